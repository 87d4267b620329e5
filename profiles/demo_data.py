"""Demo content for `manage.py seed_demo`, as plain data: users, sectors, profiles, relationships.

Facts follow public reporting up to late 2025; every sentence is our own. Publication times are
fixed so that running the command twice changes nothing. The one scheduled profile is given a
publication time relative to the first run (`schedule_in_days`) and keeps it afterwards.
Identifiers (website, ASN) are given only where the fact is well known; none is guessed.
"""

import datetime

UTC = datetime.UTC

#: One password for every demo account. Demo only: never load this data into production.
DEMO_PASSWORD = "demo-password-change-me"  # noqa: S105 - documented demo-only password


def at(year, month, day, hour=9, minute=0):
    return datetime.datetime(year, month, day, hour, minute, tzinfo=UTC)


def day(year, month, day_):
    return datetime.date(year, month, day_)


USERS = [
    {"email": "analyst@example.org", "first_name": "Amira", "last_name": "Haddad", "role": "Analyst",
     "is_staff": True, "groups": ["Analysts"]},
    {"email": "lead@example.org", "first_name": "Daniel", "last_name": "Okafor", "role": "Lead analyst",
     "is_staff": True, "groups": ["Analysts", "Lead analysts"]},
    {"email": "moderator@example.org", "first_name": "Sofia", "last_name": "Lindqvist", "role": "Moderator",
     "is_staff": True, "groups": ["Moderators"]},
    {"email": "admin@example.org", "first_name": "Site", "last_name": "Administrator", "role": "Superuser",
     "is_staff": True, "is_superuser": True},
    {"email": "member@example.org", "first_name": "Maya", "last_name": "Chen", "role": "Strategic Circle reader",
     "memberships": ["strategic-circle"]},
    {"email": "alliance@example.org", "first_name": "Jonas", "last_name": "Weber",
     "role": "Leadership Alliance reader", "memberships": ["leadership-alliance", "strategic-circle"]},
]

#: Memberships of the demo readers started on this date (fixed, for idempotence).
MEMBERSHIP_START = at(2025, 6, 2)

#: Who wrote the profiles, and which profiles the (non-lead) analyst is assigned to.
ANALYST = "analyst@example.org"
LEAD = "lead@example.org"
MODERATOR = "moderator@example.org"
ANALYST_ASSIGNMENTS = [
    "foxconn-openai-ai-infrastructure",
    "foxconn-hon-hai",
    "softbank-stargate-ohio",
    "ofcom",
]

SECTORS = [
    ("AI compute", "ai-compute"),
    ("Data centres", "data-centres"),
    ("Subsea cables", "subsea-cables"),
    ("Internet exchanges", "internet-exchanges"),
    ("Domain names", "domain-names"),
    ("Cloud", "cloud"),
    ("Standards", "standards"),
    ("Regulation", "regulation"),
    ("Hardware manufacturing", "hardware-manufacturing"),
    ("IP addressing", "ip-addressing"),
]

SC = "strategic-circle"
LA = "leadership-alliance"

FOXCONN_OPENAI = {
    "slug": "foxconn-openai-ai-infrastructure",
    "name": "Foxconn–OpenAI AI infrastructure partnership",
    "type": "infrastructure-institution",
    "base_region": "north-america",
    "profile_focus": "Institution",
    "criticality": "medium",
    "time_horizon": "next-quarter",
    "status": "published",
    "published_at": at(2025, 11, 21, 8, 30),
    "public_updated_at": at(2025, 11, 24, 16, 10),
    "last_verified_at": at(2026, 11, 20, 10, 0),  # confirmed by its analyst (profiles.freshness)
    "author": ANALYST,
    "sectors": ["ai-compute", "data-centres", "hardware-manufacturing"],
    "dek": (
        "Foxconn and OpenAI have agreed to design AI data-centre hardware together and to build it in "
        "the United States. We track the partnership because it ties a model developer's compute plans "
        "to a contract manufacturer's American factories."
    ),
    "key_points": (
        "Foxconn is to make racks, cabling, networking, power and cooling gear for AI data centres at its US plants.\n"
        "OpenAI gets early access to test the systems and an option to buy them, with no purchase obligation.\n"
        "The agreement has no disclosed value, so demand and returns remain open questions.\n"
        "Sites in Wisconsin, Ohio and Texas are the likeliest production hubs."
    ),
    "headline": "OpenAI and Foxconn will co-design AI data-centre hardware and manufacture it in the US.",
    "body": (
        "OpenAI and Foxconn, the Taiwanese contract manufacturer formally known as Hon Hai Technology Group, "
        "announced in November 2025 that they will jointly design hardware for AI data centres and build it "
        "in the United States.\n\n"
        "Foxconn is to produce the physical layer of a compute hall at its American plants: server racks, "
        "cabling, networking equipment, power systems and cooling components. OpenAI contributes what it "
        "knows about the demands of future models, gets early access to evaluate the systems, and keeps an "
        "option to buy them. Neither side has disclosed a purchase commitment.\n\n"
        "The companies describe three aims:\n\n"
        "- **Several hardware generations at once.** Rack designs for more than one generation are developed "
        "in parallel, so that the hardware keeps up with model requirements that change every year.\n"
        "- **A more local supply chain.** More components are to come from US suppliers, with testing and "
        "final assembly in the country.\n"
        "- **Critical components made in the US.** Cabling, power, cooling and networking parts are to be "
        "manufactured domestically to speed up deployment of large compute sites.\n\n"
        "Foxconn already runs plants in Wisconsin, Ohio and Texas; any of them could carry the work.\n\n"
        "## What it could change\n\n"
        "If it delivers, the partnership moves part of the AI hardware stack that is now assembled in Asia "
        "closer to the data centres that use it, which shortens lead times and lowers exposure to tariffs "
        "and export controls. It also fits the political push in Washington for domestic production of "
        "strategic technology.\n\n"
        "## What is uncertain\n\n"
        "An option to buy is not an order. Without binding volumes, Foxconn carries the investment risk, "
        "and OpenAI keeps its freedom to source elsewhere. Designing racks that stay useful across several "
        "generations is hard engineering while accelerator power and cooling needs keep rising. Whether "
        "the factories bring lasting local jobs, or mainly serve the scale of two global companies, is "
        "something readers can check over the coming quarters."
    ),
    "domain_summary": (
        "The partnership sits where AI compute demand meets physical infrastructure: the racks, power and "
        "cooling that data centres are built from. Its output feeds the sites that carry a large share of "
        "new AI traffic."
    ),
    "public_role": (
        "A manufacturing and design arrangement between a model developer and the largest electronics "
        "contract manufacturer; it holds no network or licence of its own."
    ),
    "operating_surface": (
        "US manufacturing sites (Wisconsin, Ohio, Texas) and the North American data-centre market, with "
        "design work shared between California and Taiwan."
    ),
    "what_it_does": (
        "- Co-designs AI server racks and their supporting power, cooling and networking gear.\n"
        "- Builds and tests that hardware at Foxconn plants in the US.\n"
        "- Gives OpenAI early evaluation access and an option to purchase."
    ),
    "why_it_matters": (
        "Rack-scale systems are now a bottleneck for AI data centres. Where they are made, and for whom, "
        "shapes how quickly new compute comes online and how exposed it is to trade policy. Public "
        "evidence supports medium-impact monitoring."
    ),
    "what_to_watch": (
        "- A first co-designed rack generation shown, tested or shipped.\n"
        "- Any binding order, volume or price disclosed by either company.\n"
        "- Which US plant takes the work, and the jobs attached to it.\n"
        "- Links to Stargate sites and to other OpenAI hardware suppliers."
    ),
    "public_view": (
        "The public layer covers the announced scope, the companies' stated aims, the plants involved and "
        "approved relationships. Deal values, customer volumes and supplier terms are not public."
    ),
    "caveats": (
        "The terms come from the companies' own announcements; no contract has been published.\n"
        "Plant assignments are inferred from Foxconn's existing US footprint, not confirmed.\n"
        "Private or unverified claims are excluded from this public view."
    ),
    "evidence": [
        {"url": "https://openai.com/index/openai-and-foxconn-collaborate/", "publisher": "OpenAI",
         "title": "OpenAI and Foxconn collaborate to strengthen US manufacturing across the AI supply chain",
         "source_date": day(2025, 11, 20), "retrieved_at": day(2025, 11, 21), "kind": "press-release",
         "claim": "OpenAI will share design insight on future hardware needs; Foxconn will build data-centre "
                  "racks and components in the US; OpenAI has early access and an option to buy.",
         "review": "approved"},
        {"url": "https://www.foxconn.com/en-us/press-center/press-releases/latest-news/1790",
         "publisher": "Hon Hai Technology Group (Foxconn)",
         "title": "Foxconn and OpenAI partner on next-generation AI infrastructure hardware in the United States",
         "source_date": day(2025, 11, 20), "retrieved_at": day(2025, 11, 21), "kind": "press-release",
         "claim": "Foxconn confirms the scope: racks, cabling, networking, power and cooling systems made "
                  "at its US facilities.",
         "review": "approved"},
        {"url": "https://www.reuters.com/business/openai-foxconn-partner-design-ai-data-center-hardware-us-2025-11-20/",
         "publisher": "Reuters",
         "title": "OpenAI, Foxconn team up to design and make AI data-centre hardware in the US",
         "source_date": day(2025, 11, 20), "retrieved_at": day(2025, 11, 21), "kind": "news",
         "claim": "The agreement carries no initial financial commitment or purchase obligation.",
         "archive_url": "https://web.archive.org/web/20251121000000/https://www.reuters.com/business/"
                        "openai-foxconn-partner-design-ai-data-center-hardware-us-2025-11-20/",
         "review": "approved"},
        {"url": "https://btw.media/all/it-infrastructure/foxconn-and-openai-join-forces-to-build-next-gen-ai-"
                "infrastructure-in-the-u-s/",
         "publisher": "BTW Media",
         "title": "Foxconn and OpenAI join forces to build next-gen AI infrastructure in the U.S.",
         "source_date": day(2025, 11, 21), "retrieved_at": day(2025, 11, 21), "kind": "news",
         "claim": "The collaboration rests on three aims: multi-generation hardware design, a localised "
                  "supply chain and domestic production of critical components.",
         "review": "approved"},
        {"url": "https://www.reuters.com/business/autos-transportation/foxconn-sell-ohio-ev-plant-2025-08-08/",
         "publisher": "Reuters",
         "title": "Foxconn to sell its Lordstown, Ohio plant as it shifts towards AI servers",
         "source_date": day(2025, 8, 8), "retrieved_at": day(2025, 11, 22), "kind": "news",
         "claim": "Foxconn's Ohio plant changed hands in 2025 and is being repurposed for data-centre equipment.",
         "review": "approved"},
        {"url": "https://www.bloomberg.com/news/articles/2025-11-24/foxconn-weighs-wisconsin-lines-for-ai-racks",
         "publisher": "Bloomberg",
         "title": "Foxconn weighs Wisconsin production lines for AI rack systems",
         "source_date": day(2025, 11, 24), "retrieved_at": day(2025, 11, 24), "kind": "news",
         "claim": "Foxconn is considering its Mount Pleasant, Wisconsin campus for the first rack lines.",
         "review": "submitted"},
        {"url": "https://www.honhai.com/en-us/investor-relations/financial-information/quarterly-results",
         "publisher": "Hon Hai Precision Industry",
         "title": "Third-quarter 2025 results and management commentary",
         "source_date": day(2025, 11, 13), "retrieved_at": day(2025, 11, 22), "kind": "filing",
         "claim": "Cloud and networking products, driven by AI servers, became Foxconn's largest revenue "
                  "segment in 2025.",
         "tier": SC, "review": "approved"},
    ],
    "watchpoints": [
        {"kind": "product", "text": "A first co-designed rack generation shown, tested or shipped from a US plant."},
        {"kind": "market-disclosure", "review_by": day(2026, 10, 31),
         "text": "A binding order, volume or price for the hardware disclosed by either company."},
        {"kind": "relationship-change",
         "text": "Stargate site operators named as buyers of the partnership's racks."},
        {"kind": "policy", "tier": SC,
         "text": "Tariff rulings or federal incentives that change the cost of assembling racks in the US "
                 "versus importing them."},
    ],
    "timeline": [
        {"date": day(2025, 1, 21), "title": "Stargate programme announced",
         "text": "OpenAI, SoftBank and Oracle present a multi-year plan for large US AI data centres."},
        {"date": day(2025, 8, 8), "title": "Foxconn agrees to sell its Ohio plant",
         "text": "The Lordstown site is later tied to SoftBank's plans for Stargate equipment.",
         "evidence": "https://www.reuters.com/business/autos-transportation/foxconn-sell-ohio-ev-plant-2025-08-08/"},
        {"date": day(2025, 11, 20), "title": "OpenAI and Foxconn announce the hardware partnership",
         "text": "Joint design of AI data-centre racks, built at Foxconn's US plants.",
         "evidence": "https://openai.com/index/openai-and-foxconn-collaborate/"},
    ],
    "faqs": [
        {"question": "Why does BTW profile this partnership?",
         "answer": "Public sources tie it directly to the physical infrastructure of AI data centres: who "
                   "designs the racks, where they are made and who may buy them."},
        {"question": "What is public about this profile?",
         "answer": "The announced scope, the companies' stated aims, approved evidence, the relationships on "
                   "the dependency map and our watchpoints. Briefings go deeper for members."},
        {"question": "What should readers watch next?",
         "answer": "A first shipment, any binding order, the plant chosen for production and any change in "
                   "trade policy that alters the economics of US assembly."},
    ],
    "related_links": [
        {"target": "softbank-stargate-ohio", "title": "SoftBank's Stargate equipment site in Ohio"},
        {"title": "Foxconn and SoftBank turn Ohio plant into Stargate hub",
         "url": "https://btw.media/all/it-infrastructure/foxconn-and-softbank-turn-ohio-plant-into-stargate-hub/"},
    ],
    "corrections": [
        {"date": datetime.date(2025, 11, 24),
         "note": "An earlier version described a purchase commitment. OpenAI has early access to the hardware and "
                 "an option to buy it, not an obligation."},
    ],
    "briefings": [
        {"tier": SC, "title": "Deeper profile context: supply-chain exposure",
         "body": (
             "The partnership moves final assembly, not the whole bill of materials. Accelerators, high-"
             "bandwidth memory and many power components still come from Asia, so tariff exposure falls but "
             "does not disappear.\n\n"
             "- Expect the first racks to reuse Foxconn's existing AI server lines in Texas and Wisconsin.\n"
             "- Cooling is the component most likely to be sourced locally early on.\n"
             "- The option-to-buy structure lets OpenAI benchmark Foxconn against its other rack suppliers."
         ),
         "source_notes": (
             "Based on the two companies' announcements, Foxconn's third-quarter 2025 results commentary and "
             "BTW's reading of Foxconn's US site announcements since 2018."
         )},
        {"tier": LA, "title": "Alliance briefing: negotiating leverage and IP",
         "body": (
             "Co-design raises the question of who owns rack-level designs. Public material is silent on it. "
             "For owners of data-centre IP, the structure suggests OpenAI keeps design influence without "
             "committing capital, while Foxconn keeps manufacturing know-how it can sell to other buyers.\n\n"
             "Questions worth putting to suppliers: exclusivity windows on co-designed parts, who certifies "
             "multi-generation compatibility, and how early-access units are priced."
         ),
         "source_notes": (
             "Analysis by BTW's infrastructure desk from public statements and interviews with two supply-chain "
             "managers who asked not to be named; no contract text has been seen."
         )},
    ],
}

PROFILES = [
    FOXCONN_OPENAI,
    {
        "slug": "foxconn-hon-hai",
        "name": "Foxconn (Hon Hai Technology Group)",
        "type": "company",
        "base_region": "asia-pacific",
        "criticality": "high",
        "time_horizon": "next-year",
        "status": "published",
        "published_at": at(2025, 9, 15),
        "public_updated_at": at(2025, 11, 21, 10, 0),
        "author": ANALYST,
        "sectors": ["hardware-manufacturing", "ai-compute", "data-centres"],
        "dek": (
            "The world's largest electronics contract manufacturer has become one of the main builders of "
            "AI servers and full data-centre racks."
        ),
        "key_points": (
            "Headquartered in New Taipei, Taiwan, with plants across Asia, Mexico and the United States.\n"
            "AI servers turned cloud and networking products into its biggest business line in 2025.\n"
            "US sites in Wisconsin, Ohio and Texas anchor its American expansion."
        ),
        "what_it_does": "Designs and assembles servers, racks, networking gear and consumer electronics for "
                        "other brands.",
        "why_it_matters": "A large share of rack-scale AI systems passes through its factories, so its "
                          "capacity and location choices shape how fast AI data centres are built.",
        "public_role": "Contract manufacturer and increasingly a design partner for hyperscale buyers.",
        "operating_surface": "Global manufacturing, with growing US assembly for AI hardware.",
        "evidence": [
            {"url": "https://www.foxconn.com/en-us/press-center/press-releases/latest-news/1790",
             "publisher": "Hon Hai Technology Group (Foxconn)",
             "title": "Foxconn and OpenAI partner on next-generation AI infrastructure hardware in the United States",
             "source_date": day(2025, 11, 20), "retrieved_at": day(2025, 11, 21), "kind": "press-release",
             "claim": "Foxconn will build AI data-centre racks and components at US facilities.",
             "review": "approved"},
        ],
        "watchpoints": [
            {"kind": "market-disclosure", "text": "Capital spending guidance for US AI server capacity."},
        ],
        "faqs": [
            {"question": "Is Foxconn the same company as Hon Hai?",
             "answer": "Yes. Hon Hai Precision Industry is the listed company; Foxconn is its trading name."},
        ],
    },
    {
        "slug": "openai",
        "name": "OpenAI",
        "type": "company",
        "base_region": "north-america",
        "criticality": "high",
        "time_horizon": "now",
        "status": "published",
        "published_at": at(2025, 9, 15),
        "public_updated_at": at(2025, 11, 21, 10, 5),
        "author": LEAD,
        "sectors": ["ai-compute", "cloud"],
        "dek": (
            "The developer of ChatGPT is now one of the largest buyers of data-centre capacity, and it is "
            "shaping the hardware and sites that supply it."
        ),
        "key_points": (
            "Runs its services on capacity from several cloud and data-centre partners.\n"
            "Co-leads the Stargate programme for large US AI campuses.\n"
            "Works directly with hardware makers, including Foxconn, on rack design."
        ),
        "what_it_does": "Trains and serves large AI models used by consumers, businesses and developers.",
        "why_it_matters": "Its compute commitments move whole segments of the data-centre and power markets.",
        "public_role": "AI developer and anchor tenant for new data-centre campuses.",
        "operating_surface": "Global services; compute concentrated in North American data centres.",
        "evidence": [
            {"url": "https://openai.com/index/announcing-the-stargate-project/", "publisher": "OpenAI",
             "title": "Announcing the Stargate Project", "source_date": day(2025, 1, 21),
             "retrieved_at": day(2025, 9, 10), "kind": "press-release",
             "claim": "OpenAI, SoftBank, Oracle and MGX launched a venture to build AI infrastructure in the US.",
             "review": "approved"},
        ],
        "timeline": [
            {"date": day(2025, 1, 21), "title": "Stargate announced at the White House",
             "evidence": "https://openai.com/index/announcing-the-stargate-project/"},
        ],
    },
    {
        "slug": "softbank-stargate-ohio",
        "name": "SoftBank Stargate site, Lordstown (Ohio)",
        "type": "data-centre-programme",
        "base_region": "north-america",
        "criticality": "medium",
        "time_horizon": "next-year",
        "status": "published",
        "published_at": at(2025, 9, 16),
        "public_updated_at": at(2025, 11, 22, 9, 0),
        "author": ANALYST,
        "sectors": ["data-centres", "hardware-manufacturing", "ai-compute"],
        "dek": (
            "A former electric-vehicle plant in Lordstown, Ohio, bought by SoftBank to make equipment for "
            "Stargate data centres, with Foxconn as manufacturing partner."
        ),
        "key_points": (
            "Foxconn sold the Lordstown plant in 2025; SoftBank emerged as the buyer.\n"
            "The site is to produce data-centre equipment rather than vehicles.\n"
            "It links SoftBank's Stargate role with Foxconn's US manufacturing."
        ),
        "what_it_does": "Converts an automotive plant into a production site for data-centre equipment.",
        "why_it_matters": "It is one of the few places where Stargate's supply chain is visible on the ground.",
        "public_role": "Manufacturing site within the Stargate programme.",
        "operating_surface": "Ohio, serving Stargate campuses across the US.",
        "evidence": [
            {"url": "https://www.reuters.com/business/autos-transportation/foxconn-sell-ohio-ev-plant-2025-08-08/",
             "publisher": "Reuters",
             "title": "Foxconn to sell its Lordstown, Ohio plant as it shifts towards AI servers",
             "source_date": day(2025, 8, 8), "retrieved_at": day(2025, 9, 12), "kind": "news",
             "claim": "Foxconn agreed to sell the Ohio plant; the site is to be used for AI data-centre equipment.",
             "review": "approved"},
        ],
    },
    {
        "slug": "equinix",
        "name": "Equinix",
        "type": "company",
        "base_region": "north-america",
        "criticality": "high",
        "time_horizon": "long-term",
        "status": "published",
        "published_at": at(2025, 7, 1),
        "public_updated_at": at(2025, 10, 30, 12, 0),
        "author": LEAD,
        "sectors": ["data-centres", "internet-exchanges", "cloud"],
        "dek": (
            "The largest carrier-neutral data-centre operator, whose buildings host many of the world's "
            "interconnection points between networks and clouds."
        ),
        "key_points": (
            "Runs more than 260 data centres in over 70 metropolitan areas.\n"
            "Its xScale joint ventures build large campuses for hyperscale tenants.\n"
            "Many internet exchanges, including parts of DE-CIX Frankfurt, sit in its buildings."
        ),
        "what_it_does": "Leases space, power and interconnection to networks, clouds and enterprises.",
        "why_it_matters": "Outages or pricing changes at its sites ripple across thousands of networks.",
        "public_role": "Neutral host for interconnection.",
        "operating_surface": "Global, with the largest footprint in North America and Europe.",
        "evidence": [
            {"url": "https://investor.equinix.com/financial-information/annual-reports",
             "publisher": "Equinix", "title": "Annual report on Form 10-K, fiscal 2024",
             "source_date": day(2025, 2, 12), "retrieved_at": day(2025, 6, 20), "kind": "filing",
             "claim": "Equinix reports its data-centre count, metro footprint and interconnection revenue.",
             "review": "approved"},
        ],
    },
    {
        "slug": "de-cix-frankfurt",
        "identifiers": [("website", "https://www.de-cix.net/"), ("asn", "6695")],
        "name": "DE-CIX Frankfurt",
        "type": "exchange",
        "base_region": "europe",
        "criticality": "critical",
        "time_horizon": "now",
        "status": "published",
        "published_at": at(2025, 7, 1),
        "public_updated_at": at(2025, 11, 5, 9, 30),
        "author": LEAD,
        "sectors": ["internet-exchanges"],
        "dek": (
            "One of the world's busiest internet exchanges, where more than a thousand networks swap traffic "
            "across data centres in and around Frankfurt."
        ),
        "key_points": (
            "Operated by DE-CIX, a company owned by the eco internet industry association.\n"
            "Distributed across dozens of data centres in the Frankfurt metro area.\n"
            "Peak traffic is measured in double-digit terabits per second."
        ),
        "what_it_does": "Runs the switching fabric on which networks exchange traffic directly (peering).",
        "why_it_matters": "A failure here slows or reroutes a large share of European internet traffic.",
        "public_role": "Neutral internet exchange point.",
        "operating_surface": "Frankfurt metro area; DE-CIX runs further exchanges worldwide.",
        "evidence": [
            {"url": "https://www.de-cix.net/en/locations/frankfurt", "publisher": "DE-CIX",
             "title": "DE-CIX Frankfurt: location facts and connected networks", "source_date": day(2025, 10, 1),
             "retrieved_at": day(2025, 11, 3), "kind": "dataset",
             "claim": "DE-CIX Frankfurt connects more than 1,000 networks across many data centres.",
             "review": "approved"},
        ],
        "faqs": [
            {"question": "Who can connect to DE-CIX Frankfurt?",
             "answer": "Any network with its own autonomous system number that meets the technical rules."},
        ],
    },
    {
        "slug": "verisign-com-registry",
        "name": "Verisign (.com and .net registry)",
        "type": "registry",
        "base_region": "north-america",
        "criticality": "critical",
        "time_horizon": "long-term",
        "status": "published",
        "published_at": at(2025, 7, 2),
        "public_updated_at": at(2025, 10, 2, 14, 0),
        "author": LEAD,
        "sectors": ["domain-names"],
        "dek": (
            "The operator of the .com and .net registries under contract with ICANN, and of two of the "
            "internet's thirteen root server identities."
        ),
        "key_points": (
            ".com is the largest top-level domain, with well over 150 million registrations.\n"
            "Its .com agreement with ICANN and a cooperative agreement with the US government cap prices.\n"
            "Operates the A and J root server identities."
        ),
        "what_it_does": "Keeps the authoritative database of .com and .net names and answers DNS queries for them.",
        "why_it_matters": "Every .com address depends on its systems resolving correctly, every second.",
        "public_role": "Registry operator and root server operator.",
        "operating_surface": "Global DNS service, headquartered in Reston, Virginia.",
        "evidence": [
            {"url": "https://www.verisign.com/en_US/domain-names/dnib/index.xhtml", "publisher": "Verisign",
             "title": "Domain Name Industry Brief", "source_date": day(2025, 9, 9),
             "retrieved_at": day(2025, 9, 30), "kind": "dataset",
             "claim": "Quarterly counts of .com and .net registrations.", "review": "approved"},
        ],
    },
    {
        "slug": "icann",
        "identifiers": [("website", "https://www.icann.org/")],
        "name": "ICANN",
        "type": "infrastructure-institution",
        "base_region": "global",
        "criticality": "high",
        "time_horizon": "long-term",
        "status": "published",
        "published_at": at(2025, 7, 2),
        "public_updated_at": at(2025, 9, 1, 9, 0),
        "author": LEAD,
        "sectors": ["domain-names", "standards"],
        "dek": (
            "The non-profit that coordinates the internet's unique identifiers: domain names, IP address "
            "pools and protocol parameters."
        ),
        "key_points": (
            "Sets policy for generic top-level domains through a multistakeholder process.\n"
            "Its affiliate PTI performs the IANA functions.\n"
            "US government oversight of IANA ended with the 2016 stewardship transition."
        ),
        "what_it_does": "Contracts with registries and registrars and oversees the root zone's management.",
        "why_it_matters": "Its policies decide who can run top-level domains and under what rules.",
        "public_role": "Global coordinator of names and numbers.",
        "operating_surface": "Global; headquartered in Los Angeles.",
        "evidence": [
            {"url": "https://www.icann.org/resources/pages/governance/bylaws-en", "publisher": "ICANN",
             "title": "ICANN Bylaws", "source_date": day(2024, 11, 21), "retrieved_at": day(2025, 8, 28),
             "kind": "statement", "claim": "ICANN's mission is to coordinate the internet's unique identifiers.",
             "review": "approved"},
        ],
    },
    {
        "slug": "ietf",
        "identifiers": [("website", "https://www.ietf.org/")],
        "name": "Internet Engineering Task Force (IETF)",
        "type": "standards-body",
        "base_region": "global",
        "criticality": "medium",
        "time_horizon": "long-term",
        "status": "published",
        "published_at": at(2025, 7, 3),
        "public_updated_at": at(2025, 11, 10, 9, 0),
        "author": LEAD,
        "sectors": ["standards"],
        "dek": "The open standards body where the internet's core protocols, from TCP to QUIC, are written.",
        "key_points": (
            "Anyone can take part; work happens in open mailing lists and three meetings a year.\n"
            "Standards are published as RFCs.\n"
            "Administrative support comes from the IETF Administration LLC under the Internet Society."
        ),
        "what_it_does": "Develops and maintains internet protocol standards through working groups.",
        "why_it_matters": "Protocol choices made here shape security, privacy and routing for every network.",
        "public_role": "Voluntary standards body.",
        "operating_surface": "Global, online, with rotating in-person meetings.",
        "evidence": [
            {"url": "https://www.ietf.org/about/introduction/", "publisher": "IETF",
             "title": "Introduction to the IETF", "source_date": day(2025, 3, 1), "retrieved_at": day(2025, 7, 1),
             "kind": "statement", "claim": "The IETF is an open community that publishes its standards as RFCs.",
             "review": "approved"},
        ],
    },
    {
        "slug": "ripe-ncc",
        "identifiers": [("website", "https://www.ripe.net/"), ("asn", "3333")],
        "name": "RIPE NCC",
        "type": "registry",
        "base_region": "europe",
        "criticality": "high",
        "time_horizon": "next-year",
        "status": "published",
        "published_at": at(2025, 7, 3),
        "public_updated_at": at(2025, 10, 15, 9, 0),
        "author": LEAD,
        "sectors": ["ip-addressing"],
        "dek": (
            "The regional internet registry for Europe, the Middle East and parts of Central Asia, which "
            "hands out IP addresses and autonomous system numbers to its members."
        ),
        "key_points": (
            "Ran out of fresh IPv4 space in 2019 and now allocates from a waiting list.\n"
            "Operates the K-root server and the RIPE Atlas measurement network.\n"
            "A membership association based in Amsterdam."
        ),
        "what_it_does": "Registers IP address and AS number holders and keeps the public registry accurate.",
        "why_it_matters": "Its registry underpins routing security and who can reach which network.",
        "public_role": "Regional internet registry.",
        "operating_surface": "More than 75 countries in Europe, the Middle East and Central Asia.",
        "evidence": [
            {"url": "https://www.ripe.net/publications/news/the-ripe-ncc-has-run-out-of-ipv4-addresses/",
             "publisher": "RIPE NCC", "title": "The RIPE NCC has run out of IPv4 addresses",
             "source_date": day(2019, 11, 25), "retrieved_at": day(2025, 7, 1), "kind": "statement",
             "claim": "The RIPE NCC made its final /22 IPv4 allocation in November 2019.", "review": "approved"},
        ],
    },
    {
        "slug": "2africa-cable",
        "name": "2Africa subsea cable consortium",
        "type": "partnership",
        "base_region": "africa",
        "criticality": "high",
        "time_horizon": "next-year",
        "status": "published",
        "published_at": at(2025, 8, 4),
        "public_updated_at": at(2025, 11, 12, 9, 0),
        "author": LEAD,
        "sectors": ["subsea-cables"],
        "dek": (
            "A Meta-led consortium cable of about 45,000 km that rings Africa and reaches Europe, the Gulf "
            "and South Asia."
        ),
        "key_points": (
            "Partners include Meta, MTN GlobalConnect, Orange, stc, Telecom Egypt, Vodafone and WIOCC.\n"
            "Lands in more than 30 locations; the 2Africa Pearls branch extends it to the Gulf and India.\n"
            "Adds capacity and route diversity for coastal African countries."
        ),
        "what_it_does": "Carries international traffic between Africa, Europe and Asia on shared fibre pairs.",
        "why_it_matters": "Cable cuts off West Africa in 2024 showed how few routes some countries rely on.",
        "public_role": "Consortium-owned submarine cable system.",
        "operating_surface": "Coastal Africa, the Mediterranean, the Red Sea, the Gulf and South Asia.",
        "evidence": [
            {"url": "https://www.2africacable.com/about", "publisher": "2Africa consortium",
             "title": "About 2Africa", "source_date": day(2025, 1, 1), "retrieved_at": day(2025, 8, 1),
             "kind": "statement", "claim": "2Africa is about 45,000 km long and lands in Africa, Europe and Asia.",
             "review": "approved"},
        ],
    },
    {
        "slug": "cloudflare",
        "identifiers": [("website", "https://www.cloudflare.com/"), ("asn", "13335")],
        "name": "Cloudflare",
        "type": "network-operator",
        "base_region": "north-america",
        "criticality": "high",
        "time_horizon": "now",
        "status": "scheduled",
        "schedule_in_days": 14,
        "author": LEAD,
        "sectors": ["cloud", "internet-exchanges"],
        "dek": (
            "A global edge network that sits in front of a large share of websites, providing content "
            "delivery, security and the 1.1.1.1 DNS resolver."
        ),
        "key_points": (
            "Operates in more than 300 cities and peers with thousands of networks.\n"
            "A November 2025 outage took many well-known sites offline for hours.\n"
            "Runs the public 1.1.1.1 resolver."
        ),
        "what_it_does": "Proxies, caches and filters traffic for customers' websites and applications.",
        "why_it_matters": "When its network fails, a visible slice of the web fails with it.",
        "public_role": "Edge network and security provider.",
        "operating_surface": "Global anycast network.",
        "evidence": [
            {"url": "https://blog.cloudflare.com/18-november-2025-outage/", "publisher": "Cloudflare",
             "title": "Cloudflare outage on 18 November 2025", "source_date": day(2025, 11, 19),
             "retrieved_at": day(2025, 11, 20), "kind": "statement",
             "claim": "A faulty configuration file caused a global outage of Cloudflare's core proxy.",
             "review": "approved"},
        ],
    },
    {
        "slug": "ofcom",
        "name": "Ofcom",
        "type": "regulator",
        "base_region": "europe",
        "criticality": "medium",
        "time_horizon": "next-quarter",
        "status": "draft",
        "author": ANALYST,
        "sectors": ["regulation"],
        "dek": (
            "The UK's communications regulator, covering telecoms, broadcasting, post and, since the Online "
            "Safety Act, online platforms."
        ),
        "what_it_does": "Licenses spectrum, sets rules for networks and enforces online safety duties.",
        "why_it_matters": "Its telecoms security and net neutrality rules bind every UK network operator.",
    },
]

RELATIONSHIPS = [
    {"source": "foxconn-openai-ai-infrastructure", "target": "foxconn-hon-hai", "kind": "depends-on",
     "description": "Foxconn designs with OpenAI and builds the racks, cabling, power and cooling systems.",
     "since": day(2025, 11, 20), "review": "approved",
     "evidence": "https://www.foxconn.com/en-us/press-center/press-releases/latest-news/1790"},
    {"source": "foxconn-openai-ai-infrastructure", "target": "openai", "kind": "depends-on",
     "description": "OpenAI's model requirements set the hardware roadmap; it holds early access and an "
                    "option to buy.",
     "since": day(2025, 11, 20), "review": "approved",
     "evidence": "https://openai.com/index/openai-and-foxconn-collaborate/"},
    {"source": "foxconn-openai-ai-infrastructure", "target": "softbank-stargate-ohio", "kind": "depends-on",
     "description": "Foxconn's Ohio capacity, now tied to SoftBank's Stargate equipment venture, is one of "
                    "the places the partnership's hardware could be built.",
     "since": day(2025, 11, 20), "review": "approved",
     "evidence": "https://www.reuters.com/business/autos-transportation/foxconn-sell-ohio-ev-plant-2025-08-08/"},
    {"source": "foxconn-openai-ai-infrastructure", "target": "softbank-stargate-ohio", "kind": "supplier",
     "description": "Proposed: racks from the partnership supplying Stargate campuses. Awaiting a source.",
     "review": "submitted"},
    {"source": "foxconn-hon-hai", "target": "softbank-stargate-ohio", "kind": "partner",
     "description": "Foxconn sold the Lordstown plant and is to operate equipment production there.",
     "since": day(2025, 8, 8), "review": "approved"},
    {"source": "openai", "target": "softbank-stargate-ohio", "kind": "partner",
     "description": "OpenAI co-leads Stargate, for which the Ohio site makes equipment.",
     "since": day(2025, 1, 21), "review": "approved"},
    {"source": "de-cix-frankfurt", "target": "equinix", "kind": "depends-on",
     "description": "Several DE-CIX Frankfurt access points sit in Equinix data centres.",
     "review": "approved"},
    {"source": "verisign-com-registry", "target": "icann", "kind": "depends-on",
     "description": "Verisign runs .com under a registry agreement with ICANN.", "review": "approved"},
    {"source": "ripe-ncc", "target": "icann", "kind": "depends-on",
     "description": "The RIPE NCC receives address space from the IANA functions ICANN oversees.",
     "review": "approved"},
    {"source": "icann", "target": "ietf", "kind": "supplier",
     "description": "ICANN's affiliate PTI maintains the protocol parameter registries the IETF defines.",
     "review": "approved"},
]
