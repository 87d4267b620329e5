# Varnish in front of BTW Profiles, purged by surrogate key (vmod xkey from Debian's varnish-modules).
# Used by tests/test_varnish.py, which writes the backend's port over BACKEND_PORT; a deployment can start
# from it (set the backend, and the purgers ACL to the app servers that send purges: profiles/purge.py).
vcl 4.1;

import xkey;

backend app {
    .host = "127.0.0.1";
    .port = "BACKEND_PORT";
}

# Who may purge: the app servers (here the test process, on the loopback).
acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (req.http.xkey-softpurge) {
            set req.http.n-gone = xkey.softpurge(req.http.xkey-softpurge);
        } elsif (req.http.xkey-purge) {
            set req.http.n-gone = xkey.purge(req.http.xkey-purge);
        } else {
            return (synth(400, "xkey-purge header missing"));
        }
        return (synth(200, "Invalidated " + req.http.n-gone + " objects"));
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # A reader with a session (signed in, or holding messages) gets their own page: never shared.
    if (req.http.Authorization || req.http.Cookie ~ "(^|;\s*)(sessionid|messages)=") {
        return (pass);
    }
    # Anyone else reads the shared page; other cookies (a CSRF token, analytics) change nothing in it.
    unset req.http.Cookie;
    return (hash);
}

sub vcl_backend_response {
    # The app names what a page shows in Surrogate-Key (space separated); xkey indexes objects by xkey.
    if (beresp.http.Surrogate-Key) {
        set beresp.http.xkey = beresp.http.Surrogate-Key;
    }
}

sub vcl_deliver {
    unset resp.http.xkey;
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
