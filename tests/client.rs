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
        .query(
            "SELECT table_name, column_name, strategy, via_fk FROM forget.pii_columns ORDER BY 1, 2",
            &[],
        )
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
    assert_eq!((row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, String>(2)), ("users".into(), "email".into(), "nonsense".into()));
}

#[test]
fn masking_functions_with_bind_parameters() {
    let mut db = TestDb::new("pgf_client_mask");
    let c = &mut db.client;
    // inet as text parameter, cast on the server
    let masked: String = c.query_one("SELECT host(forget.mask_ip($1::text::inet))", &[&"192.0.2.77"]).unwrap().get(0);
    assert_eq!(masked, "192.0.2.0");
    let masked: String = c
        .query_one("SELECT forget.mask_ip($1::text::inet, $2)::text", &[&"2001:db8:1:2::5", &16i32])
        .unwrap()
        .get(0);
    assert_eq!(masked, "2001:db8:1::/48");
    let p1: String = c.query_one("SELECT forget.pseudonym($1)", &[&"alice"]).unwrap().get(0);
    let p2: String = c.query_one("SELECT forget.pseudonym($1)", &[&"alice"]).unwrap().get(0);
    assert_eq!(p1, p2);
    assert_eq!(p1.len(), 64);
    let e: String = c.query_one("SELECT forget.mask_email($1)", &[&"alice@example.com"]).unwrap().get(0);
    assert_eq!(e, format!("anon-{}@anonymized.invalid", &c.query_one("SELECT left(forget.pseudonym($1), 8)", &[&"alice@example.com"]).unwrap().get::<_, String>(0)));
    let ids: Vec<&str> = vec!["alice", "alice@example.com"];
    let s: String = c
        .query_one("SELECT forget.scrub_text($1, $2)", &[&"mail alice@example.com or alice", &ids])
        .unwrap()
        .get(0);
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
