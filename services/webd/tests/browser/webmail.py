"""Webmail in a real browser: Debian's Chromium driven by Playwright.

Run by `tests/it/browser.rs` against one `cargo xtask serve` (one serve
for every scenario here, to keep CI short). Arguments: the HTTPS base URL,
the SMTP address (host:port), the IMAP address, two users and their
password, and the directory for screenshots. Every check raises on
failure; the last line printed is "webmail: all checks passed".
"""

import argparse
import email
import email.message
import email.policy
import glob
import json
import imaplib
import os
import re
import smtplib
import sys
import time

from playwright.sync_api import expect, sync_playwright

ap = argparse.ArgumentParser()
ap.add_argument("--base", required=True)
ap.add_argument("--smtp", required=True)
ap.add_argument("--imap", required=True)
ap.add_argument("--alice", required=True)
ap.add_argument("--bob", required=True)
ap.add_argument("--password", required=True)
ap.add_argument("--shots", required=True)
ap.add_argument("--queue", required=True)
ap.add_argument("--admin", required=True)
args = ap.parse_args()
os.makedirs(args.shots, exist_ok=True)
host, port = args.smtp.rsplit(":", 1)
ATTACHMENT = bytes(range(256)) * 300  # 76,800 bytes, every byte value


def send(msg):
    if "From" not in msg:
        msg["From"] = "Carol <carol@example.org>"
    msg["To"] = args.alice
    with smtplib.SMTP(host, int(port), timeout=30) as s:
        s.send_message(msg)


plain = email.message.EmailMessage()
plain["Subject"] = "Hello from SMTP"
plain["Message-ID"] = "<hello-1@example.org>"
plain.set_content("First line of the body.\nSecond line, with the word pineapple.\n")
send(plain)

hostile = email.message.EmailMessage()
hostile["Subject"] = "Hostile HTML"
hostile.set_content("text part")
hostile.add_alternative(
    """<html><head><style>body{background:url(https://evil.example/css-leak)}</style>
<script>parent.window.__pwned = 1; alert('script');</script></head>
<body onload="alert('onload')"><p id="hello">Visible paragraph</p>
<img src="x" onerror="alert('onerror')">
<a id="js" href="javascript:alert('link')">click me</a>
<img src="https://evil.example/pixel.gif" alt="tracker">
<div style="background:url(https://evil.example/style-leak)">styled</div>
<form action="https://evil.example/phish"><input name="password"></form>
<iframe src="https://evil.example/frame"></iframe>
<svg><script>alert('svg')</script></svg>
</body></html>""",
    subtype="html",
)
send(hostile)

with_file = email.message.EmailMessage()
with_file["Subject"] = "Report attached"
with_file.set_content("See the attached file.")
with_file.add_attachment(
    ATTACHMENT, maintype="application", subtype="octet-stream", filename="données.bin"
)
send(with_file)

for i in range(3):
    m = email.message.EmailMessage()
    m["Subject"] = f"Bulk {i}"
    m.set_content(f"bulk message {i}")
    send(m)

external = []
dialogs = []


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what, flush=True)


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    ctx = browser.new_context(ignore_https_errors=True, accept_downloads=True)

    # Nothing may leave loopback: every other request is recorded and aborted.
    def guard(route):
        url = route.request.url
        if url.startswith(args.base):
            route.continue_()
        else:
            external.append(url)
            route.abort()

    ctx.route("**/*", guard)
    page = ctx.new_page()
    confirms = []

    def on_dialog(d):
        # A confirmation the test asked for is accepted; anything else is
        # a dialog some content opened, recorded and dismissed.
        if confirms and d.type == "confirm":
            confirms.pop()
            d.accept()
        else:
            dialogs.append(d.message)
            d.dismiss()

    page.on("dialog", on_dialog)
    # The page's own scripts must never be refused their requests (a CSP
    # without connect-src once blocked the autosave silently).
    refused = []
    page.on("console", lambda m: refused.append(m.text) if ("Fetch API" in m.text or "connect-src" in m.text) else None)

    # Signed out: / leads to the sign-in page.
    page.goto(args.base + "/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    check("/signin" in page.url, "/ redirects to the sign-in page")
    headers = page.request.get(args.base + "/signin").headers
    csp = headers.get("content-security-policy", "")
    check("script-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src")[0], "CSP without inline scripts")
    check("frame-ancestors 'none'" in csp, "frame-ancestors 'none'")
    check(headers.get("x-content-type-options") == "nosniff", "nosniff")
    check("max-age" in headers.get("strict-transport-security", ""), "HSTS")
    page.screenshot(path=os.path.join(args.shots, "signin.png"))

    # Wrong password.
    page.get_by_label("Email address").fill(args.alice)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong email address or password")

    # Sign in.
    page.get_by_label("Email address").fill(args.alice)
    page.get_by_label("Password").fill(args.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    cookies = {c["name"]: c for c in ctx.cookies()}
    c = cookies.get("outpost_session")
    check(c is not None and c["httpOnly"] and c["secure"] and c["sameSite"] in ("Lax", "Strict"), "session cookie HttpOnly, Secure, SameSite")

    # The SMTP-delivered messages are listed, unread, newest first.
    rows = page.locator("table.messages tbody tr")
    expect(rows).to_have_count(6)
    expect(page.locator("tr.unseen")).to_have_count(6)
    expect(page.get_by_role("link", name="Inbox 6 unread")).to_be_visible()
    check(rows.first.inner_text().find("Bulk 2") >= 0, "newest first")
    page.screenshot(path=os.path.join(args.shots, "inbox.png"), full_page=True)

    # Open the plain message: body shown, marked read.
    page.get_by_role("link", name="Hello from SMTP").click()
    expect(page.get_by_role("heading", name="Hello from SMTP")).to_be_visible()
    expect(page.locator("pre.body")).to_contain_text("Second line, with the word pineapple.")
    expect(page.locator("dl.headers")).to_contain_text("carol@example.org")
    page.screenshot(path=os.path.join(args.shots, "message.png"), full_page=True)
    page.go_back()
    page.reload()
    expect(page.locator("tr.unseen")).to_have_count(5)

    # The hostile HTML message: shown, nothing of it ran or loaded.
    page.get_by_role("link", name="Hostile HTML").click()
    frame_el = page.locator("iframe.body")
    expect(frame_el).to_be_visible()
    check(frame_el.get_attribute("sandbox") is not None, "HTML body in a sandboxed frame")
    frame = page.frame_locator("iframe.body")
    expect(frame.get_by_text("Visible paragraph")).to_be_visible()
    check(frame.locator("script").count() == 0, "no script element in the frame")
    check(frame.locator("[onerror], [onload]").count() == 0, "no event handler attributes")
    check(frame.locator("form, iframe, style").count() == 0, "no form, iframe or style")
    link = frame.get_by_text("click me")
    href = link.get_attribute("href")
    check(href is None or not href.lower().startswith("javascript"), "javascript: link removed")
    link.click()
    time.sleep(1)
    check(page.evaluate("window.__pwned") is None, "nothing ran in the page")
    check(dialogs == [], f"no dialog opened: {dialogs}")
    expect(page.get_by_text("remote image(s) blocked")).to_be_visible()
    check(not any("evil.example" in u for u in external), f"no request left the server: {external}")
    page.screenshot(path=os.path.join(args.shots, "html-message.png"), full_page=True)

    # Attachment: listed by name, downloaded byte for byte.
    page.goto(args.base + "/mail/")
    page.get_by_role("link", name="Report attached").click()
    link = page.get_by_role("link", name="données.bin")
    expect(link).to_be_visible()
    with page.expect_download() as dl:
        link.click()
    d = dl.value
    check(d.suggested_filename == "données.bin", f"attachment name {d.suggested_filename!r}")
    data = open(d.path(), "rb").read()
    check(data == ATTACHMENT, f"attachment bytes identical ({len(data)} bytes)")

    # View source.
    src = page.request.get(args.base + page.get_by_role("link", name="View source").get_attribute("href"))
    check(src.status == 200 and b"Subject: Report attached" in src.body(), "view source")

    # Search by a body word: only that message.
    page.goto(args.base + "/mail/")
    page.evaluate("window.__same_page = 1")
    page.get_by_label("Search").fill("pineapple")
    page.get_by_label("Search").press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Hello from SMTP")
    check(page.evaluate("window.__same_page") == 1 and "q=pineapple" in page.url, "the search replaced the list, not the page, and the address follows")
    page.go_back()
    expect(rows).to_have_count(6)
    page.screenshot(path=os.path.join(args.shots, "search.png"))

    # Move one message to Archive, delete another (to Trash).
    page.goto(args.base + "/mail/")
    page.get_by_role("checkbox", name="Select message Bulk 0").check()
    page.get_by_label("Move to").select_option("Archive")
    page.get_by_role("button", name="Move", exact=True).click()
    expect(rows).to_have_count(5)
    page.get_by_role("checkbox", name="Select message Bulk 1").check()
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(rows).to_have_count(4)
    page.get_by_role("link", name="Archive").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Bulk 0")

    # Drag and drop: Bulk 0 dragged from Archive onto Inbox moves it, and
    # back again.
    page.get_by_role("row", name=re.compile("Bulk 0")).drag_to(page.locator("nav.folders").get_by_role("link", name=re.compile("^Inbox")))
    expect(page.get_by_text("No messages.")).to_be_visible()
    page.locator("nav.folders").get_by_role("link", name=re.compile("^Inbox")).click()
    expect(rows).to_have_count(5)
    page.get_by_role("row", name=re.compile("Bulk 0")).drag_to(page.locator("nav.folders").get_by_role("link", name="Archive"))
    expect(rows).to_have_count(4)
    page.locator("nav.folders").get_by_role("link", name="Archive").click()
    expect(rows).to_have_count(1)

    # A search of every folder finds the moved and the deleted one too,
    # each row naming its folder.
    page.get_by_label("Search", exact=True).fill("Bulk")
    page.get_by_label("Look in").select_option("all")
    page.get_by_label("Search", exact=True).press("Enter")
    expect(page.get_by_role("heading", name=re.compile("All folders"))).to_be_visible()
    expect(rows).to_have_count(3)
    expect(page.get_by_role("cell", name="Archive", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="Trash", exact=True)).to_be_visible()
    page.screenshot(path=os.path.join(args.shots, "search-all-folders.png"))
    page.goto(args.base + "/mail/?f=Archive")

    # IMAP sees the same mailbox at once.
    ihost, iport = args.imap.rsplit(":", 1)
    im = imaplib.IMAP4(ihost, int(iport))
    im.login(args.alice, args.password)
    for folder, want in (("INBOX", 4), ("Archive", 1), ("Trash", 1)):
        typ, data = im.select(folder)
        check(typ == "OK" and int(data[0]) == want, f"IMAP: {folder} holds {want} (got {data[0]!r})")
    im.select("INBOX")
    typ, data = im.search(None, "UNSEEN")
    unseen = data[0].split()
    check(len(unseen) == 1, f"IMAP: the three opened messages are \\Seen, one is not ({data!r})")
    typ, data = im.fetch(unseen[0], "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    check(b"Bulk 2" in data[0][1], f"IMAP: the unopened one is Bulk 2 ({data!r})")
    im.logout()

    # Delete from Trash expunges.
    page.get_by_role("link", name="Trash").click()
    expect(rows).to_have_count(1)
    page.get_by_role("checkbox", name="Select message Bulk 1").check()
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_text("No messages.")).to_be_visible()

    # Folders: create, rename, delete.
    page.get_by_role("link", name="Manage folders").click()
    page.get_by_label("New folder").fill("Projects")
    page.get_by_role("button", name="Create folder").click()
    expect(page.get_by_role("status")).to_contain_text("created")
    expect(page.locator("nav.folders").get_by_role("link", name="Projects")).to_be_visible()
    page.get_by_label("Rename folder").select_option("Projects")
    page.get_by_label("New name").fill("Plans")
    page.get_by_role("button", name="Rename").click()
    expect(page.locator("nav.folders").get_by_role("link", name="Plans")).to_be_visible()
    page.get_by_label("Delete folder").select_option("Plans")
    confirms.append(1)
    page.get_by_role("button", name="Delete folder").click()
    expect(page.locator("nav.folders").get_by_role("link", name="Plans")).to_have_count(0)

    # Compose and send to Bob (local) and two remote addresses (no link
    # here: they wait in the queue, as SMTP submissions do).
    page.goto(args.base + "/mail/")
    page.get_by_role("link", name="Compose").click()
    # Address completion offers Bob (from the directory) as one types.
    page.get_by_label("To", exact=True).press_sequentially("dana@example.net, bo")
    expect(page.locator("#addr-suggest option").first).to_have_attribute(
        "value", re.compile(r"^dana@example\.net, .*" + re.escape(args.bob) + ">?, $")
    )
    page.get_by_label("To", exact=True).fill(f"Bob <{args.bob}>, dana@example.net")
    page.get_by_label("Bcc", exact=True).fill("erin@example.net")
    page.get_by_label("Subject", exact=True).fill("Lunch plan")
    page.get_by_label("Message", exact=True).fill("Noon at the usual place.\nÜmlauts too.")
    page.screenshot(path=os.path.join(args.shots, "compose.png"))
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status")).to_contain_text("Message sent")

    def imap_messages(user, folder, criterion):
        im = imaplib.IMAP4(ihost, int(iport))
        im.login(user, args.password)
        im.select(folder)
        typ, data = im.search("UTF-8", criterion)
        out = []
        for n in data[0].split():
            typ, d = im.fetch(n, "(FLAGS BODY.PEEK[])")
            out.append((d[0][0], email.message_from_bytes(d[0][1], policy=email.policy.default)))
        im.logout()
        return out

    got = imap_messages(args.bob, "INBOX", 'SUBJECT "Lunch plan"')
    check(len(got) == 1, f"IMAP: Bob received the message once ({len(got)})")
    m = got[0][1]
    check(args.alice in m["From"], f"From is Alice ({m['From']})")
    check(m["Bcc"] is None, "no Bcc header in the delivered message")
    check("dana@example.net" in m["To"], f"To keeps every address ({m['To']})")
    check("Ümlauts too." in m.get_content(), "the UTF-8 body arrived intact")
    check(m["Message-ID"] and m["Date"], "Message-ID and Date set")
    sent = imap_messages(args.alice, "Sent", 'SUBJECT "Lunch plan"')
    check(len(sent) == 1 and b"\\Seen" in sent[0][0], "a read copy in Alice's Sent")
    queued = []
    for env in glob.glob(os.path.join(args.queue, "*.env")):
        e = json.load(open(env))
        queued += [r["address"] for r in e["rcpts"]]
    check(sorted(queued) == ["dana@example.net", "erin@example.net"], f"remote recipients wait in the queue ({queued})")

    # A wrong recipient brings the form back with everything typed.
    page.get_by_role("link", name="Compose").click()
    page.get_by_label("To", exact=True).fill("nobody@outpost.lan")
    page.get_by_label("Subject", exact=True).fill("Keep me")
    page.get_by_label("Message", exact=True).fill("Do not lose this text.")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text("User unknown")
    expect(page.get_by_label("Message", exact=True)).to_have_value("Do not lose this text.")
    expect(page.get_by_label("Subject", exact=True)).to_have_value("Keep me")

    # Reply keeps the thread: In-Reply-To and References name the original.
    q = email.message.EmailMessage()
    q["From"] = f"Bob <{args.bob}>"
    q["Subject"] = "Question from Bob"
    q["Message-ID"] = "<question-1@outpost.lan>"
    q.set_content("Are we meeting today?")
    send(q)
    page.goto(args.base + "/mail/")
    page.get_by_role("link", name="Question from Bob").click()
    page.get_by_role("link", name="Reply", exact=True).click()
    expect(page.get_by_label("Subject", exact=True)).to_have_value("Re: Question from Bob")
    expect(page.get_by_label("To", exact=True)).to_have_value(f"Bob <{args.bob}>")
    expect(page.get_by_label("Message", exact=True)).to_have_value(re.compile(r"> Are we meeting today\?"))
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status")).to_contain_text("Message sent")
    got = imap_messages(args.bob, "INBOX", 'SUBJECT "Re: Question from Bob"')
    check(len(got) == 1, "Bob got the reply")
    r = got[0][1]
    check(r["In-Reply-To"] == "<question-1@outpost.lan>", f"In-Reply-To ({r['In-Reply-To']})")
    check("<question-1@outpost.lan>" in (r["References"] or ""), f"References ({r['References']})")
    orig = imap_messages(args.alice, "INBOX", 'SUBJECT "Question from Bob"')
    check(b"\\Answered" in orig[0][0], f"the original is \\Answered ({orig[0][0]!r})")

    # The conversation view: Bob's question and Alice's reply (in Sent) are
    # not in one folder, so the Inbox shows threads of one; a sort link
    # switches it on.
    page.goto(args.base + "/mail/")
    page.get_by_role("link", name="Conversations").click()
    expect(page.get_by_role("link", name="Conversations")).to_have_attribute("aria-current", "true")
    expect(page.get_by_role("link", name="Question from Bob")).to_be_visible()
    page.screenshot(path=os.path.join(args.shots, "conversations.png"))

    # Forward.
    page.goto(args.base + "/mail/")
    page.get_by_role("link", name="Hello from SMTP").click()
    page.get_by_role("link", name="Forward").click()
    expect(page.get_by_label("Subject", exact=True)).to_have_value("Fwd: Hello from SMTP")
    page.get_by_label("To", exact=True).fill(args.bob)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status")).to_contain_text("Message sent")
    got = imap_messages(args.bob, "INBOX", 'SUBJECT "Fwd: Hello from SMTP"')
    check(len(got) == 1 and "pineapple" in got[0][1].get_content(), "the forward carries the text")
    f = got[0][1]
    check(f["In-Reply-To"] == "<hello-1@example.org>" and "<hello-1@example.org>" in (f["References"] or ""), f"the forward keeps the thread ({f['In-Reply-To']}, {f['References']})")
    orig = imap_messages(args.alice, "INBOX", 'SUBJECT "Hello from SMTP"')
    check(b"$Forwarded" in orig[0][0], f"the original is $Forwarded ({orig[0][0]!r})")

    # A file attached in compose, kept in a draft, reopened from Drafts
    # and sent: Bob gets the bytes unchanged, the draft is gone.
    page.goto(args.base + "/mail/")
    page.get_by_role("link", name="Compose").click()
    page.get_by_label("To", exact=True).fill(args.bob)
    page.get_by_label("Subject", exact=True).fill("Site plan")
    page.get_by_label("Message", exact=True).fill("The plan is attached.")
    page.get_by_label("Attach files").set_input_files(
        files=[{"name": "plan.bin", "mimeType": "application/octet-stream", "buffer": ATTACHMENT}]
    )
    # The autosave (here: the tab hidden) files it without leaving the page.
    page.evaluate("Object.defineProperty(document, 'hidden', {value: true, configurable: true}); document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator("#draft-status")).to_contain_text("Draft saved at")
    expect(page.get_by_role("checkbox", name=re.compile("plan.bin"))).to_be_checked()
    auto = imap_messages(args.alice, "Drafts", "ALL")
    check(len(auto) == 1 and auto[0][1]["Subject"] == "Site plan" and b"\\Draft" in auto[0][0], "the autosave filed the draft with \\Draft")
    page.evaluate("delete document.hidden")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("Draft saved")
    page.locator("nav.folders").get_by_role("link", name="Drafts").click()
    expect(rows).to_have_count(1)
    page.get_by_role("link", name="Site plan").click()
    expect(page.get_by_label("Subject", exact=True)).to_have_value("Site plan")
    expect(page.get_by_label("To", exact=True)).to_have_value(args.bob)
    expect(page.get_by_label("Message", exact=True)).to_have_value(re.compile("The plan is attached."))
    expect(page.get_by_role("checkbox", name=re.compile("plan.bin"))).to_be_checked()
    page.screenshot(path=os.path.join(args.shots, "draft.png"))
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status")).to_contain_text("Message sent")
    got = imap_messages(args.bob, "INBOX", 'SUBJECT "Site plan"')
    check(len(got) == 1, "Bob got the drafted message once")
    files = [(a.get_filename(), a.get_content()) for a in got[0][1].iter_attachments()]
    check(files == [("plan.bin", ATTACHMENT)], f"the attachment arrived byte for byte ({[(n, len(b)) for n, b in files]})")
    check(imap_messages(args.alice, "Drafts", "ALL") == [], "the draft is removed once sent")

    # CSRF: a post without the token, and one from another origin, are refused.
    r = page.request.post(args.base + "/mail/act", form={"f": "INBOX", "do": "read", "uid": "1"})
    check(r.status == 403, f"post without CSRF token refused ({r.status})")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    r = page.request.post(
        args.base + "/mail/act",
        form={"csrf": token, "f": "INBOX", "do": "read", "uid": "1"},
        headers={"Origin": "https://evil.example"},
        max_redirects=0,
    )
    check(r.status == 403, f"post from another origin refused ({r.status})")
    r = page.request.post(
        args.base + "/mail/act",
        form={"csrf": token, "f": "INBOX", "do": "flag", "uid": "1"},
        max_redirects=0,
    )
    check(r.status == 303, f"the same post with token and origin works ({r.status})")

    # A non-admin cannot reach the admin console.
    r = page.request.get(args.base + "/admin/")
    check(r.status == 403, f"non-admin gets 403 at /admin/ ({r.status})")

    # Phone-sized screen: the list still shows subject links.
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(args.base + "/mail/")
    expect(page.get_by_role("link", name="Hello from SMTP")).to_be_visible()
    page.screenshot(path=os.path.join(args.shots, "inbox-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    # Keyboard: j selects the first row, Enter opens it.
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page.locator("main.message")).to_be_visible()

    # Sign out ends the session on the server: the old cookie is worthless.
    old = [c for c in ctx.cookies() if c["name"] == "outpost_session"]
    page.goto(args.base + "/mail/")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    ctx2 = browser.new_context(ignore_https_errors=True)
    ctx2.add_cookies(old)
    r = ctx2.request.get(args.base + "/mail/", max_redirects=0)
    check(r.status == 303 and "/signin" in r.headers.get("location", ""), f"old cookie after sign-out is refused ({r.status})")

    # Bob signs in in another browser and sees only his own (empty) inbox.
    p2 = ctx2.new_page()
    ctx2.route("**/*", guard)
    p2.goto(args.base + "/signin")
    p2.get_by_label("Email address").fill(args.bob)
    p2.get_by_label("Password").fill(args.password)
    p2.get_by_role("button", name="Sign in").click()
    expect(p2.get_by_role("link", name="Lunch plan")).to_be_visible()
    expect(p2.locator("table.messages tbody tr")).to_have_count(4)
    # Every page names folders of the signed-in user only; a path out of
    # the mailbox is no folder.
    for path in ("/mail/msg?f=INBOX&uid=50", "/mail/msg?f=../alice&uid=1", "/mail/?f=..%2F..%2Foutpost.lan%2Falice"):
        r = ctx2.request.get(args.base + path)
        check(r.status == 404, f"Bob cannot reach Alice's mail: {path} ({r.status})")

    # The admin console: an admin creates a user who then signs in and
    # receives mail; disabling a user ends their session; the queue is
    # listed and an entry deleted.
    ctx3 = browser.new_context(ignore_https_errors=True)
    ctx3.route("**/*", guard)
    a = ctx3.new_page()
    a.on("dialog", lambda d: d.accept())
    a.goto(args.base + "/signin")
    a.get_by_label("Email address").fill(args.admin)
    a.get_by_label("Password").fill(args.password)
    a.get_by_role("button", name="Sign in").click()
    a.get_by_role("link", name="Admin").click()
    expect(a.get_by_role("heading", name="Administration")).to_be_visible()
    expect(a.get_by_role("cell", name=args.alice, exact=True).first).to_be_visible()
    a.screenshot(path=os.path.join(args.shots, "admin.png"), full_page=True)
    a.get_by_label("New user's email address").fill("dana@outpost.lan")
    a.get_by_label("Full name").fill("Dana Field")
    a.get_by_label("Initial password").fill("dana's first pass 7")
    a.get_by_role("button", name="Create user").click()
    expect(a.get_by_role("status")).to_contain_text("added dana@outpost.lan")
    a.get_by_label("New user's email address").fill("dana@outpost.lan")
    a.get_by_label("Initial password").fill("dana's first pass 7")
    a.get_by_role("button", name="Create user").click()
    expect(a.get_by_role("status")).to_contain_text("exists already; nothing changed")
    welcome = email.message.EmailMessage()
    welcome["Subject"] = "Welcome Dana"
    welcome["From"] = "Carol <carol@example.org>"
    welcome["To"] = "dana@outpost.lan"
    welcome.set_content("hello")
    with smtplib.SMTP(host, int(port), timeout=30) as smtp:
        smtp.send_message(welcome, to_addrs=["dana@outpost.lan"])
    ctx4 = browser.new_context(ignore_https_errors=True)
    ctx4.route("**/*", guard)
    d4 = ctx4.new_page()
    d4.goto(args.base + "/signin")
    d4.get_by_label("Email address").fill("dana@outpost.lan")
    d4.get_by_label("Password").fill("dana's first pass 7")
    d4.get_by_role("button", name="Sign in").click()
    expect(d4.get_by_role("link", name="Welcome Dana")).to_be_visible()
    check(d4.request.get(args.base + "/admin/").status == 403, "the new user is no admin")
    # Disable Dana: her open session ends at its next request.
    a.get_by_role("button", name="Disable dana@outpost.lan").click()
    expect(a.get_by_role("status")).to_contain_text("dana@outpost.lan disabled")
    d4.reload()
    expect(d4.get_by_role("button", name="Sign in")).to_be_visible()
    # The queue holds the message for the two remote recipients.
    queued_ids = [os.path.basename(p)[:-4] for p in glob.glob(os.path.join(args.queue, "*.env"))]
    check(len(queued_ids) == 1, f"one queue entry ({queued_ids})")
    expect(a.get_by_role("cell", name=queued_ids[0], exact=True)).to_be_visible()
    a.get_by_role("button", name=f"Delete queued {queued_ids[0]}").click()
    expect(a.get_by_role("status")).to_contain_text("deleted 1 message(s)")
    check(not glob.glob(os.path.join(args.queue, "*.env")), "the queue entry is gone")
    expect(a.get_by_text("The queue is empty.")).to_be_visible()
    r = a.request.post(args.base + "/admin/act", form={"op": "disable", "address": args.alice})
    check(r.status == 403, f"admin post without CSRF token refused ({r.status})")
    ca = a.request.get(args.base + "/ca.crt")
    check(ca.status == 200 and ca.body().startswith(b"-----BEGIN CERTIFICATE-----"), "ca.crt is the CA in PEM")
    expect(a.get_by_text("valid until")).to_be_visible()
    # Edit a user, make a group that then receives mail, see the services.
    a.get_by_role("link", name=f"Edit {args.bob}").click()
    a.get_by_label("Quota").fill("1G")
    a.get_by_label("Upstream identity").fill("bob@company.example")
    a.get_by_role("button", name="Save changes").click()
    expect(a.get_by_role("status")).to_contain_text("quota 1 GiB, upstream bob@company.example")
    a.get_by_label("Group address").fill("crew@outpost.lan")
    a.get_by_label("Group name").fill("Crew")
    a.get_by_label("Members").fill(f"{args.alice}, {args.bob}")
    a.get_by_role("button", name="Create group").click()
    expect(a.get_by_role("status")).to_contain_text("added group crew@outpost.lan with 2 members")
    expect(a.get_by_role("cell", name="crew@outpost.lan", exact=True)).to_be_visible()
    expect(a.get_by_role("cell", name="outpost-smtpd", exact=True).first).to_be_visible()
    check(a.locator("section[aria-labelledby=services-h] strong").count() == 0, "every listener of serve answers")
    a.screenshot(path=os.path.join(args.shots, "admin-groups-services.png"), full_page=True)
    crew = email.message.EmailMessage()
    crew["Subject"] = "Crew briefing"
    crew["From"] = "Carol <carol@example.org>"
    crew["To"] = "crew@outpost.lan"
    crew.set_content("At six.")
    with smtplib.SMTP(host, int(port), timeout=30) as smtp:
        smtp.send_message(crew, to_addrs=["crew@outpost.lan"])
    check(len(imap_messages(args.bob, "INBOX", 'SUBJECT "Crew briefing"')) == 1, "the new group delivers to its members")

    # Settings: a signature reaches the compose form; an out-of-office
    # reply answers Bob once, threaded and marked automatic.
    ctx5 = browser.new_context(ignore_https_errors=True)
    ctx5.route("**/*", guard)
    s5 = ctx5.new_page()
    s5.goto(args.base + "/signin")
    s5.get_by_label("Email address").fill(args.alice)
    s5.get_by_label("Password").fill(args.password)
    s5.get_by_role("button", name="Sign in").click()
    s5.get_by_role("link", name="Settings").click()
    expect(s5.get_by_role("heading", name="Settings")).to_be_visible()
    s5.get_by_label("Display name").fill("Alice Field")
    s5.get_by_label("Signature").fill("Alice\nNorth camp, tent 4")
    s5.get_by_role("button", name="Save settings").click()
    expect(s5.get_by_role("status")).to_contain_text("Settings saved")
    s5.get_by_label("Send automatic replies").check()
    s5.get_by_label("Reply text").fill("In the field until Friday.")
    s5.get_by_role("button", name="Save automatic reply").click()
    expect(s5.get_by_role("status")).to_contain_text("Automatic reply saved")
    expect(s5.get_by_label("Send automatic replies")).to_be_checked()
    s5.screenshot(path=os.path.join(args.shots, "settings.png"), full_page=True)
    s5.get_by_role("link", name="Mail", exact=True).click()
    s5.get_by_role("link", name="Compose").click()
    expect(s5.get_by_label("Message", exact=True)).to_have_value(re.compile("-- \nAlice\nNorth camp, tent 4"))
    for _ in range(2):
        m = email.message.EmailMessage()
        m["From"] = f"Bob <{args.bob}>"
        m["Subject"] = "Are you there?"
        m["Message-ID"] = "<away-1@outpost.lan>"
        m.set_content("Ping.")
        send(m)
    got = imap_messages(args.bob, "INBOX", 'SUBJECT "Auto: Are you there?"')
    check(len(got) == 1, f"one out-of-office reply for two messages ({len(got)})")
    r = got[0][1]
    check(r["Auto-Submitted"] == "auto-replied" and r["In-Reply-To"] == "<away-1@outpost.lan>", "the reply is automatic and threaded")
    check("In the field until Friday." in r.get_content() and "Alice Field" in r["From"], "the reply's text and name")

    check(not refused, f"no script request refused by the page's CSP: {refused}")
    check(not external, f"no request left loopback: {external}")
    browser.close()

print("webmail: all checks passed")
