//! `forget.pii_columns`, `forget.check_tags()`, `forget.suggest_tags()`.

use pgrx::prelude::*;
use pgrx::JsonB;

use super::OrRaise;
use crate::catalog::{self, Catalog};
use crate::error::ForgetError;
use crate::suggest;

pub const CATALOG_SQL: &str = include_str!("../../sql/catalog.sql");

/// Reads the catalog once (one query) into the pure structs.
pub fn load_catalog() -> Catalog {
    parse_catalog(Spi::get_one(CATALOG_SQL).or_raise())
}

/// The catalog query's document as the pure structs.
pub fn parse_catalog(doc: Option<JsonB>) -> Catalog {
    let doc = doc.unwrap_or_else(|| super::raise(ForgetError::Internal("catalog query returned nothing".into())));
    serde_json::from_value(doc.0).map_err(|e| ForgetError::Internal(format!("catalog document: {e}"))).or_raise()
}

/// Problems with `@pii` tags, one row each; no row when all tags are valid.
#[pg_extern(stable, parallel_safe)]
fn check_tags() -> TableIterator<
    'static,
    (
        name!(schema_name, String),
        name!(table_name, String),
        name!(column_name, Option<String>),
        name!(word, String),
        name!(problem, String),
    ),
> {
    let cat = load_catalog();
    let a = catalog::analyze(&cat);
    TableIterator::new(a.problems.into_iter().map(|p| (p.schema_name, p.table_name, p.column_name, p.word, p.problem)))
}

/// The rows of the `forget.pii_columns` view.
#[pg_extern(stable, parallel_safe)]
fn _pii_columns() -> TableIterator<
    'static,
    (
        name!(schema_name, String),
        name!(table_name, String),
        name!(column_name, String),
        name!(data_type, String),
        name!(roles, Vec<String>),
        name!(strategy, Option<String>),
        name!(tag, String),
        name!(via_fk, bool),
    ),
> {
    let cat = load_catalog();
    let a = catalog::analyze(&cat);
    let rows = catalog::pii_columns(&cat, &a);
    TableIterator::new(
        rows.into_iter()
            .map(|r| (r.schema_name, r.table_name, r.column_name, r.data_type, r.roles, r.strategy, r.tag, r.via_fk)),
    )
}

/// How many values of each candidate column are sampled.
const SAMPLE_ROWS: u32 = 50;

/// Untagged columns whose name or (sampled) content looks personal, with the
/// tag proposed and why. Samples only tables the caller may read; only counts
/// of sampled values appear in the output, never the values.
#[pg_extern(stable)]
fn suggest_tags() -> TableIterator<
    'static,
    (
        name!(schema_name, String),
        name!(table_name, String),
        name!(column_name, String),
        name!(suggested_tag, String),
        name!(reason, String),
    ),
> {
    let cat = load_catalog();
    let a = catalog::analyze(&cat);
    let mut out = Vec::new();
    for (ti, t) in cat.tables.iter().enumerate() {
        let tagged: Vec<&str> = a.tables[ti].columns.iter().map(|c| c.name.as_str()).collect();
        let mut by_content = Vec::new();
        for c in &t.columns {
            // columns that carry any @pii line (valid or not) are the DBA's already
            if tagged.contains(&c.name.as_str()) || c.comment.as_deref().is_some_and(|s| s.contains("@pii")) {
                continue;
            }
            let class = c.type_class();
            match suggest::by_name(&c.name, class) {
                Some(s) => out.push((t.schema.clone(), t.name.clone(), c.name.clone(), s.tag, s.reason)),
                None if class == crate::tags::TypeClass::Text => by_content.push(c.name.as_str()),
                None => {}
            }
        }
        if by_content.is_empty() || !can_select(t.oid) {
            continue;
        }
        let q = crate::sql::sample_query(&t.schema, &t.name, &by_content, SAMPLE_ROWS);
        let samples: Vec<Vec<Option<String>>> = Spi::connect(|client| {
            let tab = client.select(&q, None, &[])?;
            let mut rows = Vec::new();
            for row in tab {
                let mut vals = Vec::with_capacity(by_content.len());
                for i in 1..=by_content.len() {
                    vals.push(row.get::<String>(i)?);
                }
                rows.push(vals);
            }
            Ok::<_, pgrx::spi::SpiError>(rows)
        })
        .or_raise();
        for (i, name) in by_content.iter().enumerate() {
            let values: Vec<&str> = samples.iter().filter_map(|r| r[i].as_deref()).collect();
            let class = crate::tags::TypeClass::Text;
            if let Some(s) = suggest::by_values(&values, class) {
                out.push((t.schema.clone(), t.name.clone(), (*name).to_owned(), s.tag, s.reason));
            }
        }
    }
    TableIterator::new(out)
}

fn can_select(oid: i64) -> bool {
    Spi::get_one_with_args::<bool>("SELECT pg_catalog.has_table_privilege($1::oid, 'SELECT')", &[oid.into()])
        .or_raise()
        .unwrap_or(false)
}
