//! Hostile input against imapd (issue 10): each test is named after what
//! broke, sends what an attacker sent, and checks that the session answers
//! and the daemon keeps serving.

use crate::harness::{Client, Server, msg};
use std::io::Read;
use std::time::{Duration, Instant};

/// After the attack, a fresh client can still log in and work.
fn still_serving(s: &Server) {
    let mut c = Client::connect(s.imap);
    c.login();
    assert!(c.cmd("z", "NOOP").contains("z OK"));
}

#[test]
fn thousands_of_nested_search_nots_get_bad_not_a_stack_overflow() {
    let s = Server::start();
    s.deliver("INBOX", &msg(1));
    let mut c = Client::connect(s.imap);
    c.login();
    c.cmd("s", "SELECT INBOX");
    let nots = "NOT ".repeat(10_000);
    let r = c.cmd("a", &format!("SEARCH {nots}ALL"));
    assert_eq!(r, "a BAD search keys nested more than 64 deep\r\n");
    let ors = "OR ALL ".repeat(5_000);
    let r = c.cmd("b", &format!("SEARCH {ors}ALL"));
    assert!(r.starts_with("b BAD search keys nested"), "{r}");
    // Within the bound, nesting still works.
    let r = c.cmd("c", &format!("SEARCH {}ALL", "NOT ".repeat(10)));
    assert_eq!(r, "* SEARCH 1\r\nc OK SEARCH completed\r\n");
    still_serving(&s);
}

#[test]
fn list_wildcards_take_linear_time_not_exponential() {
    let s = Server::start();
    let mut c = Client::connect(s.imap);
    c.login();
    let name = "abcdefghijklmnopqrstuvwxyz0123";
    assert!(c.cmd("c", &format!("CREATE {name}")).contains("c OK"));
    // The backtracking matcher took 2.4 s for 8 stars, ×4.4 per star:
    // 40 stars would never finish.
    let stars = "*".repeat(40);
    let r = c.cmd("l", &format!("LIST \"\" \"{stars}z\""));
    assert_eq!(r, "l OK LIST completed\r\n");
    let r = c.cmd("m", &format!("LIST \"\" \"{stars}3\""));
    assert!(r.contains(name), "{r}");
    let r = c.cmd("n", &format!("LSUB \"\" \"{}q\"", "%".repeat(40)));
    assert_eq!(r, "n OK LSUB completed\r\n");
    still_serving(&s);
}

#[test]
fn chained_literals_before_login_are_cut_off() {
    let s = Server::start();
    let mut c = Client::connect(s.imap);
    c.line();
    // A literal may end in another literal's announcement: without a bound
    // on the whole command, a LOGIN that never ends grew without limit.
    c.send("a LOGIN {8000+}\r\n");
    let mut closed = false;
    for _ in 0..100 {
        if !c.try_send(&format!("{} {{8000+}}\r\n", "x".repeat(8000))) {
            closed = true;
            break;
        }
        if let Some(l) = c.try_line(Duration::from_millis(50)) {
            assert_eq!(l, "* BYE command too long\r\n");
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "the server kept reading a command of 800 kB before login"
    );
    still_serving(&s);
}

#[test]
fn big_literals_wait_for_login() {
    let s = Server::start();
    let mut c = Client::connect(s.imap);
    c.line();
    assert_eq!(
        c.cmd("a", "LOGIN {100000}"),
        "a NO [TOOBIG] literal too big\r\n"
    );
    c.cmd(
        "b",
        &format!("LOGIN {} {}", crate::harness::USER, crate::harness::PASS),
    );
    // After login the configured APPEND size applies.
    c.send("c APPEND INBOX {100000}\r\n");
    assert_eq!(c.line(), "+ OK\r\n");
}

#[test]
fn starttls_without_a_handshake_gives_the_slot_back() {
    let s = Server::start_with(|c| c.tls.handshake_timeout_secs = 1);
    let mut c = Client::connect(s.imap);
    c.line();
    assert_eq!(c.cmd("a", "STARTTLS"), "a OK begin TLS negotiation\r\n");
    let t = Instant::now();
    let mut sock = c.into_stream();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut b = [0u8; 16];
    let n = sock.read(&mut b).unwrap_or(0);
    assert_eq!(n, 0, "expected the server to close the connection");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());

    // POP3's STLS too.
    let mut p = Client::connect(s.pop3);
    p.line();
    p.send("STLS\r\n");
    assert!(p.line().starts_with("+OK"));
    let mut sock = p.into_stream();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert_eq!(sock.read(&mut b).unwrap_or(0), 0);
    still_serving(&s);
}

#[test]
fn fetch_partial_at_u64_max_does_not_overflow() {
    let s = Server::start();
    s.deliver("INBOX", &msg(1));
    let mut c = Client::connect(s.imap);
    c.login();
    c.cmd("s", "SELECT INBOX");
    let r = c.cmd("a", "FETCH 1 BODY.PEEK[]<5.18446744073709551615>");
    assert!(r.contains("BODY[]<5> {"), "{r}");
    assert!(r.contains("a OK FETCH completed"), "{r}");
    let r = c.cmd(
        "b",
        "FETCH 1 BODY.PEEK[]<18446744073709551615.18446744073709551615>",
    );
    assert!(r.contains("{0}"), "{r}");
    let r = c.cmd("c", "FETCH 1 BODY.PEEK[]<18446744073709551616>");
    assert_eq!(r, "c BAD bad partial\r\n");
    still_serving(&s);
}

#[test]
fn newlines_in_folder_names_and_keywords_are_refused_at_the_edge() {
    let s = Server::start();
    s.deliver("INBOX", &msg(1));
    let mut c = Client::connect(s.imap);
    c.login();
    c.cmd("s", "SELECT INBOX");
    for (tag, cmd) in [
        ("a", "SUBSCRIBE {8+}\r\nx\r\nINBOX"),
        ("b", "CREATE {8+}\r\nx\r\nTrash"),
        ("c", "STORE 1 +FLAGS ({5+}\r\nab\r\nc)"),
        ("d", "STORE 1 +FLAGS (ab,cd)"),
        ("e", "APPEND INBOX (x+y) {3+}\r\nhi\n"),
    ] {
        let r = c.cmd(tag, cmd);
        assert!(r.starts_with(&format!("{tag} BAD")), "{cmd:?}: {r}");
    }
    let subs = std::fs::read_to_string(s.mail_root().join("outpost.lan/alice/subscriptions"))
        .unwrap_or_default();
    assert!(subs.lines().all(|l| l != "x" && l != "INBOX"), "{subs:?}");
    let r = c.cmd("f", "FETCH 1 FLAGS");
    assert!(
        r.contains("FLAGS (\\Recent)") || r.contains("FLAGS ()"),
        "{r}"
    );
    // Valid keywords still work.
    let r = c.cmd("g", "STORE 1 +FLAGS ($Forwarded Junk)");
    assert!(r.contains("$Forwarded") && r.contains("g OK"), "{r}");
    still_serving(&s);
}

#[test]
fn a_mail_nested_a_hundred_thousand_deep_is_served_raw_not_a_crash() {
    let s = Server::start();
    let mut raw = String::new();
    for _ in 0..100_000 {
        raw.push_str("Subject: x\r\nContent-Type: message/rfc822\r\n\r\n");
    }
    raw.push_str("Subject: inner\r\n\r\nhello\r\n");
    s.deliver("INBOX", &raw);
    s.deliver("INBOX", &msg(2));
    let mut c = Client::connect(s.imap);
    c.login();
    let r = c.cmd("s", "SELECT INBOX");
    assert!(r.contains("* 2 EXISTS"), "{r}");
    let r = c.cmd("a", "FETCH 1 (BODYSTRUCTURE)");
    assert!(r.contains("BODYSTRUCTURE (\"TEXT\" \"PLAIN\""), "{r}");
    let r = c.cmd("b", "FETCH 1 (BODY.PEEK[1] BODY.PEEK[TEXT])");
    assert!(r.contains("b OK FETCH completed"), "{r}");
    let r = c.cmd("c", "FETCH 1 BODY.PEEK[]");
    assert!(
        r.contains(&format!("BODY[] {{{}}}", raw.len())),
        "{}",
        &r[..200]
    );
    let r = c.cmd("d", "SEARCH BODY hello");
    assert!(r.contains("d OK"), "{r}");
    assert!(c.cmd("e", "FETCH 2 BODYSTRUCTURE").contains("e OK"));
    still_serving(&s);
}

/// Peak resident set of this process so far, in KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Whether this is the child that runs `test` alone: a test that measures
/// the process's peak memory re-runs itself in a process of its own, so
/// tests running beside it (`cargo test` runs them as threads) cannot
/// distort the figure.
fn alone(test: &str) -> bool {
    if std::env::var_os("OUTPOST_TEST_ALONE").is_some() {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("OUTPOST_TEST_ALONE", "1")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{test} in its own process:\n{text}");
    assert!(text.contains("1 passed"), "{test} did not run:\n{text}");
    eprintln!("{text}");
    false
}

/// #9 at the daemon: a hundred LOGINs at once from four addresses used to
/// run a hundred argon2id hashes (~19 MiB each) side by side on the blocking
/// pool (1.2 GB above baseline). Through the gate at most
/// `max_password_checks` (4) run at once; the rest wait their turn or are
/// refused as busy, and every client gets an answer.
#[test]
fn a_hundred_parallel_logins_do_not_run_a_hundred_password_hashes() {
    if !alone("security::a_hundred_parallel_logins_do_not_run_a_hundred_password_hashes") {
        return;
    }
    let s = Server::start();
    still_serving(&s);
    let before = peak_rss_kib();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let imap = s.imap;
    let replies: Vec<String> = rt.block_on(async move {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let mut tasks = Vec::new();
        for i in 0..100u32 {
            tasks.push(tokio::spawn(async move {
                let sock = tokio::net::TcpSocket::new_v4().unwrap();
                let src = std::net::Ipv4Addr::new(127, 0, 0, 1 + (i % 4) as u8);
                sock.bind((src, 0).into()).unwrap();
                let stream = sock.connect(imap).await.unwrap();
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                let mut greeting = String::new();
                r.read_line(&mut greeting).await.unwrap();
                // Unknown users: the directory hashes anyway (no timing
                // oracle), so every attempt costs a full argon2id.
                w.write_all(format!("a LOGIN guess{i}@outpost.lan wrong-{i}\r\n").as_bytes())
                    .await
                    .unwrap();
                let mut reply = String::new();
                tokio::time::timeout(Duration::from_secs(120), r.read_line(&mut reply))
                    .await
                    .expect("every client gets an answer")
                    .unwrap();
                reply
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    for r in &replies {
        assert!(r.starts_with("a NO ["), "{r}");
    }
    // 4 hashes × 19 MiB at a time, plus what the allocator keeps of freed
    // hashes and a hundred sessions' buffers: measured +158 MiB. Unbounded
    // (the gate set to 512) the same test grows by 1,349 MiB.
    assert!(
        grown_mib < 400,
        "peak memory grew by {grown_mib} MiB for 100 parallel logins"
    );
    eprintln!("100 parallel logins: peak memory +{grown_mib} MiB");
    still_serving(&s);
}

/// #11 beyond FETCH partials: every number a client sends, at and past
/// the edges of its type, gets a reply (a result or a `BAD`/`NO`/`-ERR`),
/// never a panic, and the session goes on.
#[test]
fn client_numbers_at_the_edges_get_replies_not_panics() {
    let s = Server::start();
    s.deliver("INBOX", &msg(1));
    s.deliver("INBOX", &msg(2));
    let mut c = Client::connect(s.imap);
    c.login();
    c.cmd("e", "ENABLE CONDSTORE");
    c.cmd("s", "SELECT INBOX");
    let big = "18446744073709551615";
    let bigger = "18446744073709551616";
    let cases = [
        "FETCH 4294967295 FLAGS".to_string(),
        "FETCH 4294967296 FLAGS".to_string(),
        "FETCH 1:4294967295 FLAGS".to_string(),
        "UID FETCH 4294967295:* FLAGS".to_string(),
        "UID FETCH 99999999999999999999 FLAGS".to_string(),
        format!("FETCH 1 (FLAGS) (CHANGEDSINCE {big})"),
        format!("FETCH 1 (FLAGS) (CHANGEDSINCE {bigger})"),
        format!("STORE 1 (UNCHANGEDSINCE {big}) +FLAGS (\\Seen)"),
        format!("STORE 1 (UNCHANGEDSINCE {bigger}) +FLAGS (\\Seen)"),
        format!("SEARCH LARGER {big}"),
        format!("SEARCH LARGER {bigger}"),
        format!("SEARCH SMALLER 0 MODSEQ {big}"),
        "SEARCH UID 4294967295:4294967296".to_string(),
        "SEARCH 4294967295".to_string(),
        format!("FETCH 1 BODY.PEEK[1.{big}]"),
        "FETCH 1 BODY.PEEK[4294967296]".to_string(),
        "FETCH 1 BINARY.PEEK[4294967295]".to_string(),
        format!("UID EXPUNGE {bigger}"),
        format!("COPY {big} INBOX"),
        "STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ)".to_string(),
    ];
    for (i, cmd) in cases.iter().enumerate() {
        let tag = format!("n{i}");
        let r = c.cmd(&tag, cmd);
        let last = r.lines().last().unwrap_or("");
        assert!(
            last.starts_with(&format!("{tag} OK"))
                || last.starts_with(&format!("{tag} NO"))
                || last.starts_with(&format!("{tag} BAD")),
            "{cmd}: {r}"
        );
    }
    // APPEND announcing a literal past u64 and past the size limit.
    let r = c.cmd("a1", &format!("APPEND INBOX {{{bigger}}}"));
    assert!(r.starts_with("a1 BAD") || r.starts_with("a1 NO"), "{r}");
    let r = c.cmd("a2", &format!("APPEND INBOX {{{big}}}"));
    assert!(r.starts_with("a2 NO") || r.starts_with("a2 BAD"), "{r}");
    assert!(c.cmd("z", "NOOP").contains("z OK"));

    let mut p = Client::connect(s.pop3);
    p.line();
    assert!(p.pop3_login().starts_with("+OK"));
    for cmd in [
        format!("RETR {bigger}"),
        "RETR 4294967296".to_string(),
        "RETR 0".to_string(),
        format!("TOP 1 {bigger}"),
        format!("TOP 1 {big}"),
        format!("LIST {big}"),
        format!("UIDL {bigger}"),
        format!("DELE {big}"),
    ] {
        p.send(&format!("{cmd}\r\n"));
        let l = p.line();
        assert!(l.starts_with("-ERR") || l.starts_with("+OK"), "{cmd}: {l}");
        if l.starts_with("+OK") && cmd.starts_with("TOP") {
            // The headers and no body lines, then the terminator.
            loop {
                let l = p.line();
                assert!(!l.is_empty(), "connection closed after {cmd}");
                if l == ".\r\n" {
                    break;
                }
            }
        }
    }
    p.send("NOOP\r\n");
    assert!(p.line().starts_with("+OK"));
    still_serving(&s);
}

/// #8 at the daemon: sessions waiting for a folder's lock (a COPY into the
/// selected folder used to deadlock on it) must not take the worker
/// threads with them: new IMAP and POP3 clients are still greeted, and the
/// waiting commands finish once the lock is free.
#[test]
fn sessions_blocked_on_a_folder_lock_do_not_stop_new_clients_being_greeted() {
    let s = Server::start();
    s.deliver("INBOX", &msg(1));
    let inbox = outpost_store::user_root(&s.mail_root(), "outpost.lan", "alice").unwrap();
    let mut waiting = Vec::new();
    for _ in 0..6 {
        let mut c = Client::connect(s.imap);
        c.login();
        assert!(c.cmd("s", "SELECT INBOX").contains("s OK"));
        waiting.push(c);
    }
    // Another process holds the index lock (as a stuck writer would).
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(inbox.join("outpost-index.lock"))
        .unwrap();
    lock.lock().unwrap();
    // Six sessions, three times the runtime's two worker threads, wait on it.
    for c in &mut waiting {
        c.send("f STORE 1 +FLAGS (\\Flagged)\r\n");
    }
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let mut fresh = Client::connect(s.imap);
    let g = fresh.try_line(Duration::from_secs(5));
    assert!(
        g.as_deref().is_some_and(|g| g.starts_with("* OK")),
        "no IMAP greeting while sessions wait for a lock: {g:?}"
    );
    let mut pop = Client::connect(s.pop3);
    let g = pop.try_line(Duration::from_secs(5));
    assert!(
        g.as_deref().is_some_and(|g| g.starts_with("+OK")),
        "no POP3 greeting while sessions wait for a lock: {g:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // A command that needs no lock is served meanwhile, too.
    let r = fresh.cmd(
        "l",
        &format!("LOGIN {} {}", crate::harness::USER, crate::harness::PASS),
    );
    assert!(r.contains("l OK"), "{r}");
    drop(lock);
    for c in &mut waiting {
        let r = c.until("f");
        assert!(r.contains("f OK"), "{r}");
    }
    still_serving(&s);
}

/// #14 at the daemon, in both protocols: guesses from one address lock the
/// account for that address only; the owner, from an address with no
/// recent failures, still signs in over IMAP and POP3.
#[test]
fn a_guesser_locks_only_its_own_address_out_in_every_protocol() {
    use std::net::Ipv4Addr;
    let s = Server::start();
    let guesser = Ipv4Addr::new(127, 0, 0, 2);
    let owner = Ipv4Addr::new(127, 0, 0, 3);
    let per_source = s.config.directory.per_source_failures;
    for i in 0..per_source + 2 {
        let mut c = Client::connect_from(guesser, s.imap);
        c.line();
        let r = c.cmd("a", &format!("LOGIN {} wrong-{i}", crate::harness::USER));
        assert!(r.starts_with("a NO"), "{r}");
    }
    // The right password from the guesser's address is refused now, in
    // IMAP and in POP3 (one lockout for every protocol).
    let mut c = Client::connect_from(guesser, s.imap);
    c.line();
    let r = c.cmd(
        "a",
        &format!("LOGIN {} {}", crate::harness::USER, crate::harness::PASS),
    );
    assert!(r.starts_with("a NO"), "locked address signed in: {r}");
    let mut p = Client::connect_from(guesser, s.pop3);
    p.line();
    let r = p.pop3_login();
    assert!(
        r.starts_with("-ERR"),
        "locked address signed in over POP3: {r}"
    );
    // The owner is not locked out.
    let mut c = Client::connect_from(owner, s.imap);
    c.login();
    let mut p = Client::connect_from(owner, s.pop3);
    assert!(p.line().starts_with("+OK"));
    let r = p.pop3_login();
    assert!(r.starts_with("+OK"), "owner refused over POP3: {r}");
}

/// The connection caps at the daemon: over the per-address cap and over
/// the global one (shared by every listener) a client is refused in its
/// protocol, IMAP `* BYE`, POP3 `-ERR`, and a slot given back is usable
/// again.
#[test]
fn over_the_connection_caps_imap_and_pop3_refuse_politely() {
    use std::net::Ipv4Addr;
    let s = Server::start_with(|c| {
        c.imap.max_connections = 3;
        c.imap.max_connections_per_ip = 2;
    });
    let (a, b) = (Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3));
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = Client::connect_from(a, s.imap);
        assert!(c.line().starts_with("* OK"));
        held.push(c);
    }
    let mut c = Client::connect_from(a, s.imap);
    assert_eq!(
        c.line(),
        "* BYE [UNAVAILABLE] Too many connections from your address\r\n"
    );
    let mut c = Client::connect_from(a, s.pop3);
    assert_eq!(
        c.line(),
        "-ERR [SYS/TEMP] Too many connections from your address\r\n"
    );
    // A third client from another address fills the daemon.
    let mut c = Client::connect_from(b, s.pop3);
    assert!(c.line().starts_with("+OK"));
    held.push(c);
    let mut c = Client::connect_from(b, s.imap);
    assert_eq!(
        c.line(),
        "* BYE [UNAVAILABLE] Too many connections, try again later\r\n"
    );
    let mut c = Client::connect_from(b, s.pop3);
    assert_eq!(
        c.line(),
        "-ERR [SYS/TEMP] Too many connections, try again later\r\n"
    );
    drop(c);
    // Slots come back when clients leave.
    held.clear();
    let t = Instant::now();
    loop {
        let mut c = Client::connect_from(b, s.imap);
        let g = c.line();
        if g.starts_with("* OK") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "still refused: {g}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The implicit-TLS listeners bound the handshake too: a client that
/// connects to imaps and never says a word loses its slot after
/// `tls.handshake_timeout_secs`.
#[test]
fn a_silent_client_on_the_tls_port_gives_its_slot_back() {
    let s = Server::start_with(|c| {
        c.tls.handshake_timeout_secs = 1;
        c.imap.max_connections = 1;
    });
    let t = Instant::now();
    let mut sock = std::net::TcpStream::connect(s.imaps).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut b = [0u8; 16];
    let r = sock.read(&mut b);
    assert!(matches!(r, Ok(0)), "expected a close, got {r:?}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // The one slot is free again.
    let deadline = Instant::now();
    loop {
        let mut c = Client::connect(s.imap);
        if c.line().starts_with("* OK") {
            break;
        }
        assert!(deadline.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn plain_with_someone_elses_authorization_identity_is_refused() {
    // RFC 4616 §2: "bob\0alice\0alice's password" asks to act as bob;
    // with no proxy rights that must fail, not log in as alice.
    let s = Server::start();
    let mut c = Client::connect(s.imap);
    c.line();
    let r = c.cmd(
        "a",
        "AUTHENTICATE PLAIN Ym9iQG91dHBvc3QubGFuAGFsaWNlQG91dHBvc3QubGFuAHNlY3JldC1wYXNzLTE=",
    );
    assert_eq!(
        r,
        "a NO [AUTHORIZATIONFAILED] authorization identity refused\r\n"
    );
    let r = c.cmd(
        "b",
        "AUTHENTICATE PLAIN YWxpY2VAb3V0cG9zdC5sYW4AYWxpY2VAb3V0cG9zdC5sYW4Ac2VjcmV0LXBhc3MtMQ==",
    );
    assert!(r.starts_with("b OK [CAPABILITY "), "{r}");
    let mut p = Client::connect(s.pop3);
    p.line();
    p.send("AUTH PLAIN Ym9iQG91dHBvc3QubGFuAGFsaWNlQG91dHBvc3QubGFuAHNlY3JldC1wYXNzLTE=\r\n");
    assert_eq!(p.line(), "-ERR [AUTH] authorization identity refused\r\n");
    p.send("AUTH PLAIN YWxpY2VAb3V0cG9zdC5sYW4AYWxpY2VAb3V0cG9zdC5sYW4Ac2VjcmV0LXBhc3MtMQ==\r\n");
    assert!(p.line().starts_with("+OK maildrop has"));
}
