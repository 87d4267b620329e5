"""Steps every browser journey shares, written once."""

from tests.factories_membership import PASSWORD


def submit(page, selector: str) -> None:
    """Press a button that sends a form and wait for the page it leads to (not the one already loaded)."""
    with page.expect_navigation():
        page.click(selector)


def sign_in(page, email: str, *, password: str = PASSWORD, next_url: str | None = None, open_form: bool = True):
    """Sign in through the site's own form, as a reader would; `open_form=False` when the page is already on it."""
    if open_form:
        page.goto("/accounts/login/" + (f"?next={next_url}" if next_url else ""))
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    submit(page, "form.form--login button[type=submit]")
