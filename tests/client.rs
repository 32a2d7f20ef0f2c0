//! Integration tests over a client connection, the way an application uses
//! pg_forget: the `postgres` crate over TCP to the scratch cluster
//! (`scripts/cluster.sh`), values as bind parameters, errors checked by
//! SQLSTATE. Run by `scripts/test.sh` (feature `client_tests`), which sets
//! `PGFORGET_TEST_DSN`.

use postgres::{Client, NoTls};

fn dsn(db: &str) -> String {
    let base = std::env::var("PGFORGET_TEST_DSN")
        .unwrap_or_else(|_| "host=127.0.0.1 port=55432 user=postgres dbname=postgres".into());
    base.replace("dbname=postgres", &format!("dbname={db}"))
}

/// A fresh database with the extension, dropped at the end of the test.
struct TestDb {
    name: String,
    client: Client,
}

impl TestDb {
    fn new(name: &str) -> TestDb {
        let mut admin = Client::connect(&dsn("postgres"), NoTls).expect("connect to the scratch cluster");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let mut client = Client::connect(&dsn(name), NoTls).unwrap();
        client.batch_execute("CREATE EXTENSION pg_forget").unwrap();
        TestDb { name: name.into(), client }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = Client::connect(&dsn("postgres"), NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

fn portal(c: &mut Client) {
    c.batch_execute(
        r#"
        CREATE TABLE users (id serial PRIMARY KEY, username text UNIQUE NOT NULL, email text);
        COMMENT ON COLUMN users.username IS '@pii subject';
        COMMENT ON COLUMN users.email IS E'Contact address.\n@pii email';
        CREATE TABLE events (id serial PRIMARY KEY, user_id int REFERENCES users, ip inet, message text);
        COMMENT ON COLUMN events.ip IS '@pii ip';
        COMMENT ON COLUMN events.message IS '@pii scrub';
        "#,
    )
    .unwrap();
}

#[test]
fn catalog_over_a_client_connection() {
    let mut db = TestDb::new("pgf_client_catalog");
    portal(&mut db.client);
    let rows = db
        .client
        .query("SELECT table_name, column_name, strategy, via_fk FROM forget.pii_columns ORDER BY 1, 2", &[])
        .unwrap();
    let got: Vec<(String, String, Option<String>, bool)> =
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
    assert_eq!(
        got,
        vec![
            ("events".into(), "ip".into(), Some("ip".into()), true),
            ("events".into(), "message".into(), Some("scrub".into()), true),
            ("users".into(), "email".into(), Some("email".into()), false),
            ("users".into(), "username".into(), Some("subject".into()), false),
        ]
    );
    let n: i64 = db.client.query_one("SELECT count(*) FROM forget.check_tags()", &[]).unwrap().get(0);
    assert_eq!(n, 0);
    db.client.batch_execute("COMMENT ON COLUMN users.email IS '@pii email nonsense'").unwrap();
    let row = db.client.query_one("SELECT table_name, column_name, word FROM forget.check_tags()", &[]).unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, String>(2)),
        ("users".into(), "email".into(), "nonsense".into())
    );
}

#[test]
fn masking_functions_with_bind_parameters() {
    let mut db = TestDb::new("pgf_client_mask");
    let c = &mut db.client;
    // inet as text parameter, cast on the server
    let masked: String = c.query_one("SELECT host(forget.mask_ip($1::text::inet))", &[&"192.0.2.77"]).unwrap().get(0);
    assert_eq!(masked, "192.0.2.0");
    let masked: String =
        c.query_one("SELECT forget.mask_ip($1::text::inet, $2)::text", &[&"2001:db8:1:2::5", &16i32]).unwrap().get(0);
    assert_eq!(masked, "2001:db8:1::/48");
    let p1: String = c.query_one("SELECT forget.pseudonym($1)", &[&"alice"]).unwrap().get(0);
    let p2: String = c.query_one("SELECT forget.pseudonym($1)", &[&"alice"]).unwrap().get(0);
    assert_eq!(p1, p2);
    assert_eq!(p1.len(), 64);
    let e: String = c.query_one("SELECT forget.mask_email($1)", &[&"alice@example.com"]).unwrap().get(0);
    assert_eq!(
        e,
        format!(
            "anon-{}@anonymized.invalid",
            &c.query_one("SELECT left(forget.pseudonym($1), 8)", &[&"alice@example.com"]).unwrap().get::<_, String>(0)
        )
    );
    let ids: Vec<&str> = vec!["alice", "alice@example.com"];
    let s: String =
        c.query_one("SELECT forget.scrub_text($1, $2)", &[&"mail alice@example.com or alice", &ids]).unwrap().get(0);
    assert_eq!(s, "mail anonymous or anonymous");
}

#[test]
fn errors_arrive_with_their_sqlstate() {
    let mut db = TestDb::new("pgf_client_errors");
    let c = &mut db.client;
    let err = c.query_one("SELECT forget.mask_ip($1::text::inet, $2)", &[&"10.0.0.1", &40i32]).unwrap_err();
    let db_err = err.as_db_error().expect("a server error");
    assert_eq!(db_err.code().code(), "22023");
    assert!(db_err.message().contains("v4_prefix"), "{}", db_err.message());
    let nulls: Vec<Option<&str>> = vec![Some("a"), None];
    let err = c.query_one("SELECT forget.scrub_text($1, $2)", &[&"x", &nulls]).unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "22004");
    // the connection is still usable after an error
    let one: i32 = c.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
}

#[test]
fn a_plain_role_cannot_read_the_key() {
    let mut db = TestDb::new("pgf_client_roles");
    let c = &mut db.client;
    c.batch_execute("DROP ROLE IF EXISTS pgf_app; CREATE ROLE pgf_app LOGIN").unwrap();
    let mut app = Client::connect(&dsn(&db.name).replace("user=postgres", "user=pgf_app"), NoTls).unwrap();
    let err = app.query_one("SELECT forget.pseudonym($1)", &[&"alice"]).unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "42501");
    let ok: String = app.query_one("SELECT host(forget.mask_ip($1::text::inet))", &[&"10.9.8.7"]).unwrap().get(0);
    assert_eq!(ok, "10.9.8.0");
    drop(app);
    c.batch_execute("GRANT forget_admin TO pgf_app").unwrap();
    let mut app = Client::connect(&dsn(&db.name).replace("user=postgres", "user=pgf_app"), NoTls).unwrap();
    let p: String = app.query_one("SELECT forget.pseudonym($1)", &[&"alice"]).unwrap().get(0);
    assert_eq!(p.len(), 64);
    drop(app);
    c.batch_execute("REVOKE forget_admin FROM pgf_app").unwrap();
}

/// A realistic little schema with enough rows that "other people's data
/// untouched" means something.
fn erasure_fixture(c: &mut Client) {
    c.batch_execute(
        r#"
        CREATE TABLE accounts (id serial PRIMARY KEY, username text UNIQUE NOT NULL, email text UNIQUE, full_name text);
        COMMENT ON TABLE accounts IS '@pii subjects';
        COMMENT ON COLUMN accounts.username IS '@pii subject';
        COMMENT ON COLUMN accounts.email IS '@pii email';
        COMMENT ON COLUMN accounts.full_name IS '@pii';
        CREATE TABLE sessions (id bigserial, account_id int REFERENCES accounts, ip inet, started_at timestamptz NOT NULL, PRIMARY KEY (id, started_at))
            PARTITION BY RANGE (started_at);
        CREATE TABLE sessions_a PARTITION OF sessions FOR VALUES FROM ('2026-01-01') TO ('2026-07-01');
        CREATE TABLE sessions_b PARTITION OF sessions FOR VALUES FROM ('2026-07-01') TO ('2027-01-01');
        COMMENT ON COLUMN sessions.ip IS '@pii ip';
        COMMENT ON COLUMN sessions.started_at IS '@pii time';
        CREATE TABLE events (id bigserial PRIMARY KEY, actor text, message text, payload jsonb);
        COMMENT ON COLUMN events.actor IS '@pii subject';
        COMMENT ON COLUMN events.message IS '@pii scrub';
        COMMENT ON COLUMN events.payload IS '@pii json:email,user';
        INSERT INTO accounts (username, email, full_name)
            SELECT 'user' || g, 'user' || g || '@example.com', 'Person Number' || g FROM generate_series(1, 200) g;
        INSERT INTO sessions (account_id, ip, started_at)
            SELECT 1 + g % 200, ('10.' || (g % 250) || '.' || (g % 7) || '.' || (1 + g % 250))::inet,
                   timestamptz '2026-01-01' + (g % 360) * interval '1 day'
              FROM generate_series(1, 4000) g;
        INSERT INTO events (actor, message, payload)
            SELECT 'user' || (1 + g % 200), 'user' || (1 + g % 200) || ' pinged user' || (1 + (g + 1) % 200),
                   jsonb_build_object('user', 'user' || (1 + (g + 1) % 200), 'email', 'user' || (1 + g % 200) || '@example.com')
              FROM generate_series(1, 2000) g;
        "#,
    )
    .unwrap();
}

fn pg_dump_data(db: &str) -> String {
    let port = dsn("postgres").split_whitespace().find_map(|kv| kv.strip_prefix("port=").map(str::to_owned)).unwrap();
    let out = std::process::Command::new("/usr/lib/postgresql/15/bin/pg_dump")
        .args(["--data-only", "--no-owner", "-h", "127.0.0.1", "-p", &port, "-U", "postgres", db])
        .output()
        .expect("run pg_dump");
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Whole-word occurrence (so user1 is not found inside user10).
fn mentions(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, _)| {
        let after = hay[i + needle.len()..].chars().next();
        let before = hay[..i].chars().next_back();
        !after.is_some_and(|c| c.is_ascii_alphanumeric()) && !before.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

#[test]
fn after_anonymizing_a_dump_holds_none_of_the_erased_values() {
    let mut db = TestDb::new("pgf_client_dump");
    erasure_fixture(&mut db.client);
    let c = &mut db.client;
    let victims = ["user7", "user42", "user199"];
    let mut erased: Vec<String> = Vec::new();
    for v in victims {
        erased.push(v.to_string());
        erased.push(format!("{v}@example.com"));
        erased.push(c.query_one("SELECT full_name FROM accounts WHERE username = $1", &[&v]).unwrap().get(0));
    }
    let ips: Vec<String> = c
        .query("SELECT DISTINCT host(s.ip) FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE a.username = ANY($1)", &[&victims.to_vec()])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!ips.is_empty());
    let before = pg_dump_data(&db.name);
    for e in &erased {
        assert!(mentions(&before, e), "fixture should contain {e}");
    }
    let counts = |c: &mut Client| -> Vec<i64> {
        ["accounts", "sessions", "events"]
            .iter()
            .map(|t| c.query_one(&format!("SELECT count(*) FROM {t}"), &[]).unwrap().get(0))
            .collect()
    };
    let n_before = counts(c);
    let other_before: Vec<(String, String)> = c
        .query("SELECT username, email FROM accounts WHERE NOT username = ANY($1) ORDER BY id", &[&victims.to_vec()])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();

    let names: Vec<&str> = victims.to_vec();
    let job: i64 = c.query_one("SELECT forget.anonymize_users($1)", &[&names]).unwrap().get(0);
    let status: String = c.query_one("SELECT status FROM forget.job_status($1)", &[&job]).unwrap().get(0);
    assert_eq!(status, "done");
    let masked: i64 = c
        .query_one("SELECT sum(row_count)::int8 FROM forget.job_report($1) WHERE action = 'masked'", &[&job])
        .unwrap()
        .get(0);
    assert!(masked > 0);

    let after = pg_dump_data(&db.name);
    for e in &erased {
        assert!(!mentions(&after, e), "{e} is still in the dump");
    }
    for ip in &ips {
        // the exact host address must be gone from the sessions of the victims; other people may share a /24
        let still: i64 = c
            .query_one(
                "SELECT count(*) FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE host(s.ip) = $1 AND masklen(s.ip) = 32 AND a.username LIKE 'anonymous%'",
                &[ip],
            )
            .unwrap()
            .get(0);
        assert_eq!(still, 0, "{ip}");
    }
    assert_eq!(counts(c), n_before, "no row is lost or added");
    let other_after: Vec<(String, String)> = c
        .query("SELECT username, email FROM accounts WHERE username NOT LIKE 'anonymous%' ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(other_after, other_before, "other people's accounts are untouched");
    // the audit log holds pseudonyms only
    let audit = c.query("SELECT subject_pseudonym FROM forget.audit_log", &[]).unwrap();
    for row in audit {
        let p: Option<String> = row.get(0);
        let p = p.unwrap_or_default();
        assert!(p.len() == 64 && p.chars().all(|c| c.is_ascii_hexdigit()), "{p}");
    }
}

#[test]
fn dry_run_and_rollback_change_nothing_over_a_client_connection() {
    let mut db = TestDb::new("pgf_client_dry");
    erasure_fixture(&mut db.client);
    let c = &mut db.client;
    let before = pg_dump_data(&db.name);
    let names = vec!["user3"];
    let job: i64 = c.query_one("SELECT forget.anonymize_users($1, true)", &[&names]).unwrap().get(0);
    let would: i64 = c
        .query_one(
            "SELECT coalesce(sum(row_count), 0)::int8 FROM forget.job_report($1) WHERE action = 'would_mask'",
            &[&job],
        )
        .unwrap()
        .get(0);
    assert!(would > 0);
    let mut tx = c.transaction().unwrap();
    tx.query_one("SELECT forget.delete_users($1)", &[&names]).unwrap();
    let left: i64 = tx.query_one("SELECT count(*) FROM accounts WHERE username = 'user3'", &[]).unwrap().get(0);
    assert_eq!(left, 0);
    tx.rollback().unwrap();
    let after = pg_dump_data(&db.name);
    // identical data apart from the extension's own job and audit rows
    let strip = |s: &str| s.lines().filter(|l| !l.contains("forget.")).map(str::to_owned).collect::<Vec<_>>();
    let user_data = |s: &str| -> Vec<String> {
        let mut keep = false;
        let mut out = Vec::new();
        for l in strip(s) {
            if l.starts_with("COPY public.") {
                keep = true;
            } else if l == "\\." {
                keep = false;
            }
            if keep {
                out.push(l);
            }
        }
        out
    };
    assert_eq!(user_data(&before), user_data(&after));
    let n: i64 = c.query_one("SELECT count(*) FROM accounts WHERE username = 'user3'", &[]).unwrap().get(0);
    assert_eq!(n, 1);
}

#[test]
fn locate_and_errors_from_the_client() {
    let mut db = TestDb::new("pgf_client_locate");
    erasure_fixture(&mut db.client);
    let c = &mut db.client;
    let names = vec!["user5", "ghost"];
    let rows = c
        .query(
            "SELECT username, table_name, column_name, row_count FROM forget.locate_users($1) ORDER BY 1, 2, 3",
            &[&names],
        )
        .unwrap();
    let got: Vec<(String, String, Option<String>, i64)> =
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
    assert!(got.iter().all(|r| r.0 == "user5"), "{got:?}");
    let sessions: i64 = c
        .query_one(
            "SELECT count(*) FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE a.username = 'user5'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(got.iter().any(|r| r.1 == "sessions" && r.2.as_deref() == Some("ip") && r.3 == sessions), "{got:?}");
    let bad: Vec<Option<&str>> = vec![Some("a"), None];
    let e = c.query_one("SELECT forget.anonymize_users($1)", &[&bad]).unwrap_err();
    assert_eq!(e.as_db_error().unwrap().code().code(), "22004");
    let empty = vec![""];
    let e = c.query_one("SELECT forget.delete_users($1)", &[&empty]).unwrap_err();
    assert_eq!(e.as_db_error().unwrap().code().code(), "22023");
    c.batch_execute("COMMENT ON COLUMN events.message IS '@pii scrub nonsense'").unwrap();
    let e = c.query_one("SELECT forget.anonymize_users($1)", &[&vec!["user5"]]).unwrap_err();
    let e = e.as_db_error().unwrap();
    assert_eq!(e.code().code(), "42601");
    assert!(e.message().contains("events.message") && e.message().contains("nonsense"), "{}", e.message());
    assert!(!e.message().contains("user5"));
}

fn sessions_fixture(c: &mut Client, rows: i64) {
    c.batch_execute(&format!(
        r#"
        CREATE TABLE sessions (id bigint PRIMARY KEY, user_id text, ip inet, agent text, started_at timestamptz NOT NULL);
        COMMENT ON COLUMN sessions.user_id IS '@pii subject';
        COMMENT ON COLUMN sessions.ip IS '@pii ip';
        COMMENT ON COLUMN sessions.started_at IS '@pii time';
        INSERT INTO sessions
            SELECT g, 'user' || (g % 100), ('10.' || (g % 100) || '.' || (g % 7) || '.' || (1 + g % 250))::inet, 'agent',
                   timestamptz '2025-01-01 00:00:00+00' + g * interval '15 seconds'
              FROM generate_series(1, {rows}) g;
        "#
    ))
    .unwrap();
}

fn wait_done(c: &mut Client, job: i64, secs: u64) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let status: String = c.query_one("SELECT status FROM forget.job_status($1)", &[&job]).unwrap().get(0);
        if status == "done" || status == "failed" || std::time::Instant::now() > deadline {
            return status;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn jobs_with_bind_parameters_and_run_jobs_over_a_client_connection() {
    let mut db = TestDb::new("pgf_client_jobs");
    sessions_fixture(&mut db.client, 5000);
    let c = &mut db.client;
    let start: Option<std::time::SystemTime> = None;
    let users = vec!["user7", "user8"];
    let ips: Vec<String> = vec!["10.42.0.0/16".into()];
    // inet[] goes as text[] and is cast by the server
    let job: i64 = c
        .query_one(
            "SELECT forget.create_anonymization_job($1, now(), $2, $3::text[]::inet[], NULL)",
            &[&start, &users, &ips],
        )
        .unwrap()
        .get(0);
    let expected: i64 = c
        .query_one("SELECT count(*) FROM sessions WHERE user_id = ANY($1) OR ip <<= '10.42.0.0/16'", &[&users])
        .unwrap()
        .get(0);
    c.batch_execute("SET forget.batch_size = 7").unwrap();
    c.execute("CALL forget.run_jobs($1)", &[&Some(10i32)]).unwrap();
    let row = c
        .query_one("SELECT status, rows_matched, rows_done, percent::float8 FROM forget.job_status($1)", &[&job])
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "done");
    assert_eq!(row.get::<_, i64>(1), expected);
    assert_eq!(row.get::<_, i64>(2), expected);
    assert_eq!(row.get::<_, f64>(3), 100.0);
    let left: i64 = c
        .query_one(
            "SELECT count(*) FROM sessions WHERE user_id = ANY($1) OR (ip <<= '10.42.0.0/16' AND masklen(ip) = 32)",
            &[&users],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    let untouched: i64 = c.query_one("SELECT count(*) FROM sessions WHERE user_id LIKE 'user%'", &[]).unwrap().get(0);
    assert_eq!(untouched, 5000 - expected);
    // CALL inside a transaction is refused with 2D000
    let mut tx = c.transaction().unwrap();
    let e = tx.execute("CALL forget.run_jobs()", &[]).unwrap_err();
    assert_eq!(e.as_db_error().unwrap().code().code(), "2D000");
    tx.rollback().unwrap();
    // a bad window is refused with 22023
    let e = c
        .query_one("SELECT forget.create_anonymization_job(now(), now() - interval '1 day', $1, NULL, NULL)", &[&users])
        .unwrap_err();
    assert_eq!(e.as_db_error().unwrap().code().code(), "22023");
}

#[test]
fn the_worker_runs_a_job_that_nobody_calls_run_jobs_for() {
    let mut db = TestDb::new("pgf_client_worker");
    sessions_fixture(&mut db.client, 2000);
    let mut admin = Client::connect(&dsn("postgres"), NoTls).unwrap();
    admin.simple_query("ALTER SYSTEM SET forget.worker = on").unwrap();
    admin.simple_query("SELECT pg_reload_conf()").unwrap();
    let c = &mut db.client;
    let users = vec!["user3"];
    let job: i64 =
        c.query_one("SELECT forget.create_anonymization_job(NULL, NULL, $1, NULL, NULL)", &[&users]).unwrap().get(0);
    let status = wait_done(c, job, 60);
    admin.simple_query("ALTER SYSTEM RESET forget.worker").unwrap();
    admin.simple_query("SELECT pg_reload_conf()").unwrap();
    assert_eq!(status, "done");
    let left: i64 = c.query_one("SELECT count(*) FROM sessions WHERE user_id = 'user3'", &[]).unwrap().get(0);
    assert_eq!(left, 0);
    let masked: i64 = c.query_one("SELECT count(*) FROM sessions WHERE user_id = 'anonymous'", &[]).unwrap().get(0);
    assert_eq!(masked, 20);
}

/// A job over 1,000,000 session rows, batch size 10,000, while another
/// connection keeps inserting sessions, reading, and updating rows the job is
/// masking, with a lock timeout: it never times out, gets work done during the
/// job, and every matched row ends up masked (the concurrent updates are not lost).
#[test]
fn a_million_row_job_keeps_locks_short_for_concurrent_writers() {
    let mut db = TestDb::new("pgf_client_million");
    sessions_fixture(&mut db.client, 1_000_000);
    db.client.batch_execute("CREATE INDEX ON sessions (user_id)").unwrap();
    db.client.simple_query("VACUUM ANALYZE sessions").unwrap();
    let users: Vec<String> = (0..10).map(|i| format!("user{i}")).collect();
    let matched: i64 =
        db.client.query_one("SELECT count(*) FROM sessions WHERE user_id = ANY($1)", &[&users]).unwrap().get(0);
    assert_eq!(matched, 100_000);
    let job: i64 = db
        .client
        .query_one("SELECT forget.create_anonymization_job(NULL, NULL, $1, NULL, NULL)", &[&users])
        .unwrap()
        .get(0);

    let writer_dsn = dsn(&db.name);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_w = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut w = Client::connect(&writer_dsn, NoTls).unwrap();
        w.batch_execute("SET lock_timeout = '5s'").unwrap();
        let (mut ops, mut max_ms, mut i) = (0u64, 0u128, 0i64);
        while !stop_w.load(std::sync::atomic::Ordering::Relaxed) {
            i += 1;
            let t = std::time::Instant::now();
            w.execute("INSERT INTO sessions VALUES (2000000 + $1::int8, 'newcomer', '192.0.2.1', 'app', now())", &[&i])
                .expect("insert during the job");
            // a row the job is masking (user0 rows have ids divisible by 100)
            w.execute("UPDATE sessions SET agent = 'touched' WHERE id = $1", &[&((i * 7919) % 10_000 * 100 + 100)])
                .expect("update during the job");
            let _: i64 = w
                .query_one(
                    "SELECT count(*) FROM sessions WHERE id BETWEEN $1::int8 AND $1::int8 + 100",
                    &[&(i * 13 % 900_000)],
                )
                .unwrap()
                .get(0);
            max_ms = max_ms.max(t.elapsed().as_millis());
            ops += 1;
        }
        (ops, max_ms)
    });
    let t0 = std::time::Instant::now();
    db.client.batch_execute("SET forget.batch_size = 10000").unwrap();
    db.client.execute("CALL forget.run_jobs()", &[]).unwrap();
    let job_ms = t0.elapsed().as_millis();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ops, max_ms) = writer.join().expect("the writer never failed");
    eprintln!("million-row job: {job_ms} ms; concurrent writer: {ops} rounds, slowest {max_ms} ms");
    let row = db.client.query_one("SELECT status, rows_done FROM forget.job_status($1)", &[&job]).unwrap();
    assert_eq!(row.get::<_, String>(0), "done");
    assert_eq!(row.get::<_, i64>(1), matched);
    assert!(ops > 0, "the writer got work done while the job ran");
    let left: i64 =
        db.client.query_one("SELECT count(*) FROM sessions WHERE user_id = ANY($1)", &[&users]).unwrap().get(0);
    assert_eq!(left, 0, "every matched row is masked");
    let touched_masked: i64 = db
        .client
        .query_one("SELECT count(*) FROM sessions WHERE agent = 'touched' AND user_id = 'anonymous'", &[])
        .unwrap()
        .get(0);
    let touched: i64 =
        db.client.query_one("SELECT count(*) FROM sessions WHERE agent = 'touched'", &[]).unwrap().get(0);
    assert_eq!(touched, touched_masked, "rows updated concurrently are masked too, and keep the concurrent change");
    let newcomers: i64 =
        db.client.query_one("SELECT count(*) FROM sessions WHERE user_id = 'newcomer'", &[]).unwrap().get(0);
    assert_eq!(newcomers as u64, ops, "no concurrent insert was lost or masked");
}

#[test]
fn a_deleted_account_is_anonymized_after_the_delay_and_a_retry_finishes_the_rest() {
    let mut db = TestDb::new("pgf_client_auto");
    let c = &mut db.client;
    c.batch_execute(
        r#"
        CREATE TABLE users (id int PRIMARY KEY, username text UNIQUE, user_key text);
        COMMENT ON TABLE users IS '@pii subjects';
        COMMENT ON COLUMN users.username IS '@pii subject';
        COMMENT ON COLUMN users.user_key IS '@pii key';
        CREATE TABLE events (id int PRIMARY KEY, actor text, assignee_key text, message text);
        COMMENT ON COLUMN events.actor IS '@pii subject';
        COMMENT ON COLUMN events.assignee_key IS '@pii key';
        COMMENT ON COLUMN events.message IS '@pii scrub';
        INSERT INTO users VALUES (1, 'alice', 'KEY-1'), (2, 'bob', 'KEY-2');
        INSERT INTO events VALUES (1, 'alice', NULL, 'alice was here'), (2, 'bob', 'KEY-1', 'bob asked alice'), (3, 'bob', NULL, 'bob alone');
        "#,
    )
    .unwrap();
    // the application deletes alice with a delay of one second
    c.batch_execute("SET forget.anonymize_delay = '1s'").unwrap();
    c.execute("DELETE FROM users WHERE username = $1", &[&"alice"]).unwrap();
    let (kind, due): (String, bool) = {
        let r = c.query_one("SELECT kind, due_at > now() FROM forget.jobs", &[]).unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((kind.as_str(), due), ("auto", true));
    c.execute("CALL forget.run_jobs()", &[]).unwrap();
    let status: String = c.query_one("SELECT status FROM forget.jobs", &[]).unwrap().get(0);
    assert_eq!(status, "queued", "not due yet");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    c.execute("CALL forget.run_jobs()", &[]).unwrap();
    let status: String = c.query_one("SELECT status FROM forget.jobs", &[]).unwrap().get(0);
    assert_eq!(status, "done");
    let msgs: Vec<String> =
        c.query("SELECT message FROM events ORDER BY id", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    // bob's name is not one of alice's identifiers: it stays in the free text
    assert_eq!(msgs, vec!["anonymous was here", "bob asked anonymous", "bob alone"]);
    // event 2 carries alice's key, so the row is hers too (a row of two people belongs to both)
    let actors: Vec<String> =
        c.query("SELECT actor FROM events ORDER BY id", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(actors, vec!["anonymous", "anonymous", "bob"]);
    // the key travelled with the job: bob's event assigned to alice's key is alice's too
    let key: Option<String> = c.query_one("SELECT assignee_key FROM events WHERE id = 2", &[]).unwrap().get(0);
    assert_ne!(key.as_deref(), Some("KEY-1"));

    // a partial anonymization of bob, finished by retry_anonymization with bind parameters
    c.batch_execute("UPDATE users SET username = 'anonymous-0000beef' WHERE id = 2").unwrap();
    let job: i64 = c
        .query_one(
            "SELECT forget.retry_anonymization($1, $2, $3)",
            &[&Some("anonymous-0000beef"), &Some("bob"), &Some("KEY-2")],
        )
        .unwrap()
        .get(0);
    let kind: String = c.query_one("SELECT kind FROM forget.job_status($1)", &[&job]).unwrap().get(0);
    assert_eq!(kind, "retry");
    let left: i64 =
        c.query_one("SELECT count(*) FROM events WHERE actor = 'bob' OR message LIKE '%bob%'", &[]).unwrap().get(0);
    assert_eq!(left, 0);
    let key: String = c.query_one("SELECT user_key FROM users WHERE id = 2", &[]).unwrap().get(0);
    assert_eq!(key.len(), 64, "the key is hashed");
    let retried: i64 = c
        .query_one("SELECT count(*) FROM forget.audit_log WHERE action = 'retried' AND job_id = $1", &[&job])
        .unwrap()
        .get(0);
    assert_eq!(retried, 1);
    let e = c
        .query_one(
            "SELECT forget.retry_anonymization($1, $2, $3)",
            &[&None::<String>, &None::<String>, &None::<String>],
        )
        .unwrap_err();
    assert_eq!(e.as_db_error().unwrap().code().code(), "22004");
}

#[test]
fn export_a_person_anonymize_and_export_nothing() {
    let mut db = TestDb::new("pgf_client_export");
    erasure_fixture(&mut db.client);
    let c = &mut db.client;
    let names = vec!["user9"];
    let rows =
        c.query("SELECT username, schema_name, table_name, data FROM forget.export_users($1)", &[&names]).unwrap();
    let sessions: i64 = c
        .query_one(
            "SELECT count(*) FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE a.username = 'user9'",
            &[],
        )
        .unwrap()
        .get(0);
    let exported_sessions =
        rows.iter().filter(|r| r.get::<_, Option<String>>(2).as_deref() == Some("sessions")).count() as i64;
    assert_eq!(exported_sessions, sessions);
    let account: Vec<&postgres::Row> =
        rows.iter().filter(|r| r.get::<_, Option<String>>(2).as_deref() == Some("accounts")).collect();
    assert_eq!(account.len(), 1);
    let data: serde_json::Value = account[0].get(3);
    assert_eq!(data["email"], "user9@example.com");
    let located: i64 = c
        .query_one(
            "SELECT sum(DISTINCT row_count)::int8 FROM forget.locate_users($1) WHERE table_name = 'sessions'",
            &[&names],
        )
        .unwrap()
        .get(0);
    assert_eq!(located, exported_sessions);
    c.query_one("SELECT forget.anonymize_users($1)", &[&names]).unwrap();
    let rows = c.query("SELECT schema_name, data FROM forget.export_users($1)", &[&names]).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].get::<_, Option<String>>(0).is_none() && rows[0].get::<_, Option<serde_json::Value>>(1).is_none());
}

#[test]
fn several_runners_at_once_each_take_different_jobs() {
    let mut db = TestDb::new("pgf_client_runners");
    sessions_fixture(&mut db.client, 20_000);
    let c = &mut db.client;
    let mut jobs = Vec::new();
    for u in 0..8 {
        let users = vec![format!("user{u}")];
        let id: i64 = c
            .query_one("SELECT forget.create_anonymization_job(NULL, NULL, $1, NULL, NULL)", &[&users])
            .unwrap()
            .get(0);
        jobs.push(id);
    }
    let runners: Vec<_> = (0..3)
        .map(|_| {
            let d = dsn(&db.name);
            std::thread::spawn(move || {
                let mut r = Client::connect(&d, NoTls).unwrap();
                r.batch_execute("SET forget.batch_size = 50").unwrap();
                r.execute("CALL forget.run_jobs()", &[]).unwrap();
            })
        })
        .collect();
    for r in runners {
        r.join().expect("a runner failed");
    }
    // the background worker, when another test has turned it on, may hold one of them a moment longer
    for &j in &jobs {
        wait_done(c, j, 30);
    }
    let done: i64 =
        c.query_one("SELECT count(*) FROM forget.job WHERE id = ANY($1) AND status = 'done'", &[&jobs]).unwrap().get(0);
    assert_eq!(done, 8);
    // each job was claimed exactly once, and its rows masked exactly once
    let claimed_twice: i64 =
        c.query_one("SELECT count(*) FROM forget.job WHERE id = ANY($1) AND attempts <> 1", &[&jobs]).unwrap().get(0);
    assert_eq!(claimed_twice, 0);
    let total_done: i64 =
        c.query_one("SELECT sum(rows_done)::int8 FROM forget.job WHERE id = ANY($1)", &[&jobs]).unwrap().get(0);
    assert_eq!(total_done, 8 * 200);
    let left: i64 = c.query_one("SELECT count(*) FROM sessions WHERE user_id ~ '^user[0-7]$'", &[]).unwrap().get(0);
    assert_eq!(left, 0);
}

/// pg_dump keeps the jobs, the audit log and the key: a restore into a fresh
/// database gives the same pseudonyms, and retry_anonymization finds the
/// earlier job there.
#[test]
fn a_pg_dump_round_trip_keeps_jobs_audit_and_key() {
    let mut db = TestDb::new("pgf_client_dump_src");
    let c = &mut db.client;
    c.batch_execute(
        r#"
        CREATE TABLE users (id int PRIMARY KEY, username text UNIQUE);
        COMMENT ON TABLE users IS '@pii subjects';
        COMMENT ON COLUMN users.username IS '@pii subject';
        INSERT INTO users VALUES (1, 'alice'), (2, 'bob');
        "#,
    )
    .unwrap();
    let job: i64 = c.query_one("SELECT forget.anonymize_users($1)", &[&vec!["alice"]]).unwrap().get(0);
    let p1: String = c.query_one("SELECT forget.pseudonym('alice')", &[]).unwrap().get(0);
    let port = dsn("postgres").split_whitespace().find_map(|kv| kv.strip_prefix("port=").map(str::to_owned)).unwrap();
    let dump = std::env::temp_dir().join("pgf_client_dump.custom");
    let st = std::process::Command::new("/usr/lib/postgresql/15/bin/pg_dump")
        .args(["-Fc", "-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-f"])
        .arg(&dump)
        .arg(&db.name)
        .status()
        .unwrap();
    assert!(st.success());
    // a brand-new database: the dump brings the extension, its key, jobs and audit log
    let mut admin = Client::connect(&dsn("postgres"), NoTls).unwrap();
    admin.batch_execute("DROP DATABASE IF EXISTS pgf_client_dump_dst WITH (FORCE)").unwrap();
    admin.batch_execute("CREATE DATABASE pgf_client_dump_dst").unwrap();
    let target_name = "pgf_client_dump_dst";
    let out = std::process::Command::new("/usr/lib/postgresql/15/bin/pg_restore")
        .args([
            "--exit-on-error",
            "--single-transaction",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-d",
            target_name,
        ])
        .arg(&dump)
        .output()
        .unwrap();
    assert!(out.status.success(), "pg_restore: {}", String::from_utf8_lossy(&out.stderr));
    let mut target = Client::connect(&dsn(target_name), NoTls).unwrap();
    let t = &mut target;
    let p2: String = t.query_one("SELECT forget.pseudonym('alice')", &[]).unwrap().get(0);
    assert_eq!(p1, p2, "the key came back: same pseudonyms");
    let kind: String = t.query_one("SELECT kind FROM forget.jobs WHERE id = $1", &[&job]).unwrap().get(0);
    assert_eq!(kind, "anonymize");
    let audit: i64 = t.query_one("SELECT count(*) FROM forget.audit_log WHERE job_id = $1", &[&job]).unwrap().get(0);
    assert!(audit >= 2);
    let trig: i64 =
        t.query_one("SELECT count(*) FROM pg_trigger WHERE tgname = 'forget_auto_anonymize'", &[]).unwrap().get(0);
    assert_eq!(trig, 1, "the accounts-table trigger came back once");
    let retry: i64 = t.query_one("SELECT forget.retry_anonymization(NULL, 'alice', NULL)", &[]).unwrap().get(0);
    let found: bool = t
        .query_one("SELECT (params->'retry_of') @> to_jsonb($2::bigint) FROM forget.job WHERE id = $1", &[&retry, &job])
        .unwrap()
        .get(0);
    assert!(found, "retry_anonymization finds the earlier job through the restored audit log");
    // new jobs do not collide with restored ids
    assert!(retry > job);
    drop(target);
    let _ = admin.batch_execute("DROP DATABASE IF EXISTS pgf_client_dump_dst WITH (FORCE)");
    let _ = std::fs::remove_file(dump);
}

/// Sessions cache the @pii catalog (src/cache.rs): a tag changed and committed
/// by another session, a column added with a tag, a unique index created and a
/// table dropped are all seen by a session that has already called once.
#[test]
fn a_session_sees_tags_changed_by_another_session() {
    let mut db = TestDb::new("pgf_client_cache");
    db.client
        .batch_execute(
            "CREATE TABLE people (id int PRIMARY KEY, login text, email text);
             COMMENT ON COLUMN people.login IS '@pii subject';
             COMMENT ON COLUMN people.email IS '@pii redact';
             INSERT INTO people SELECT i, 'p' || i, 'p' || i || '@example.com' FROM generate_series(1, 6) i;",
        )
        .unwrap();
    let mut other = Client::connect(&dsn(&db.name), NoTls).unwrap();
    let email = |c: &mut Client, id: i32| -> Option<String> {
        c.query_one("SELECT email FROM people WHERE id = $1", &[&id]).unwrap().get(0)
    };
    let erase = |c: &mut Client, who: &str| {
        c.query_one("SELECT forget.anonymize_users($1)", &[&vec![who.to_string()]]).unwrap();
    };
    erase(&mut db.client, "p1");
    assert_eq!(email(&mut db.client, 1).as_deref(), Some("anonymous"));

    // another session changes the strategy and commits
    other.batch_execute("COMMENT ON COLUMN people.email IS '@pii email'").unwrap();
    erase(&mut db.client, "p2");
    let e2 = email(&mut db.client, 2).unwrap();
    assert!(e2.starts_with("anon-") && e2.ends_with("@anonymized.invalid"), "{e2}");

    // an uncommitted change is not seen; after its rollback the old tag holds
    other.batch_execute("BEGIN; COMMENT ON COLUMN people.email IS '@pii null'").unwrap();
    erase(&mut db.client, "p3");
    assert!(email(&mut db.client, 3).unwrap().starts_with("anon-"));
    other.batch_execute("ROLLBACK").unwrap();

    // a new tagged column, then a unique index on the subject column
    other
        .batch_execute(
            "UPDATE people SET login = login || id WHERE login = 'anonymous';
             ALTER TABLE people ADD COLUMN phone text DEFAULT '555-0100';
             COMMENT ON COLUMN people.phone IS '@pii null';
             CREATE UNIQUE INDEX ON people (login);",
        )
        .unwrap();
    erase(&mut db.client, "p4");
    let row = db.client.query_one("SELECT login, phone FROM people WHERE id = 4", &[]).unwrap();
    let (login, phone): (String, Option<String>) = (row.get(0), row.get(1));
    assert!(login.starts_with("anonymous-"), "unique subject gets anonymous-<hash8>: {login}");
    assert_eq!(phone, None);

    // the tag removed: the column is left alone
    other.batch_execute("COMMENT ON COLUMN people.email IS 'just a note'").unwrap();
    erase(&mut db.client, "p5");
    assert_eq!(email(&mut db.client, 5).as_deref(), Some("p5@example.com"));

    // a table dropped and re-created under the same name
    other
        .batch_execute(
            "DROP TABLE people;
             CREATE TABLE people (id int PRIMARY KEY, who text, note text);
             COMMENT ON COLUMN people.who IS '@pii subject';
             COMMENT ON COLUMN people.note IS '@pii redact';
             INSERT INTO people VALUES (6, 'p6', 'hello');",
        )
        .unwrap();
    erase(&mut db.client, "p6");
    let note: String = db.client.query_one("SELECT note FROM people WHERE id = 6", &[]).unwrap().get(0);
    assert_eq!(note, "anonymous");
}
