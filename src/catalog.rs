//! The catalog as pg_forget sees it: tables, columns, comments and foreign
//! keys, read once per statement by `sql/catalog.sql` into these structs, and
//! the pure analysis on top (which columns are tagged, with which roles and
//! strategies, and what is wrong with the tags). No pgrx here.

use serde::Deserialize;

use crate::tags::{self, ColumnTag, Role, Strategy, TableTag, TypeClass};

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Catalog {
    pub tables: Vec<Table>,
    pub foreign_keys: Vec<ForeignKey>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Table {
    pub oid: i64,
    pub schema: String,
    pub name: String,
    #[serde(default)]
    pub partitioned: bool,
    pub comment: Option<String>,
    pub primary_key: Option<Vec<String>>,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Column {
    pub name: String,
    pub num: i32,
    pub data_type: String,
    pub base_type: String,
    /// the column's own type (a domain stays a domain), schema-qualified and quoted, for casts
    #[serde(default)]
    pub type_ident: String,
    /// `OPERATOR(schema.=)` of the (base) type, when it has one
    #[serde(default)]
    pub eq_op: Option<String>,
    /// the base type of a domain (the type itself otherwise), quoted, for casting names
    #[serde(default)]
    pub base_type_ident: Option<String>,
    pub category: String,
    #[serde(default)]
    pub not_null: bool,
    pub comment: Option<String>,
    #[serde(default)]
    pub unique: bool,
}

impl Table {
    /// `ONLY "schema"."table"` for ordinary tables (inheritance children are
    /// tables of their own), `"schema"."table"` for partitioned ones.
    pub fn from_sql(&self) -> String {
        let q = crate::sql::qualified(&self.schema, &self.name);
        if self.partitioned {
            q
        } else {
            format!("ONLY {q}")
        }
    }
}

impl Column {
    pub fn type_class(&self) -> TypeClass {
        TypeClass::from_pg(&self.base_type, self.category.chars().next().unwrap_or('X'))
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ForeignKey {
    pub name: String,
    pub child: i64,
    pub parent: i64,
    pub child_columns: Vec<String>,
    pub parent_columns: Vec<String>,
    pub on_delete: String,
}

/// One problem with a tag, as `forget.check_tags()` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub schema_name: String,
    pub table_name: String,
    pub column_name: Option<String>,
    pub word: String,
    pub problem: String,
}

impl Problem {
    /// `schema.table.column` (or `schema.table`), for error messages.
    pub fn target(&self) -> String {
        match &self.column_name {
            Some(c) => format!("{}.{}.{}", self.schema_name, self.table_name, c),
            None => format!("{}.{}", self.schema_name, self.table_name),
        }
    }
}

/// A column with a valid `@pii` tag.
#[derive(Debug, Clone, PartialEq)]
pub struct TaggedColumn {
    pub name: String,
    pub data_type: String,
    /// quoted, schema-qualified type name for casts
    pub type_ident: String,
    /// the equality operator to compare values with (never resolved through search_path)
    pub eq_op: String,
    /// the type names are cast to before comparing (a domain's base type: its CHECK never runs on a name)
    pub cast_ident: String,
    pub class: TypeClass,
    pub tag: ColumnTag,
    /// None for `time` columns, which are never masked.
    pub strategy: Option<Strategy>,
    pub unique: bool,
    pub not_null: bool,
}

impl TaggedColumn {
    pub fn has_role(&self, r: Role) -> bool {
        self.tag.roles.contains(&r)
    }
}

/// What the tags say about one table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableTags {
    /// index into `Catalog::tables`
    pub index: usize,
    pub table: TableTag,
    pub columns: Vec<TaggedColumn>,
}

impl TableTags {
    pub fn has_role(&self, r: Role) -> bool {
        self.columns.iter().any(|c| c.has_role(r))
    }
    /// A table is tagged when it has a tagged column or a table tag.
    pub fn is_tagged(&self) -> bool {
        !self.columns.is_empty() || self.table.delete || self.table.subjects
    }
}

/// The catalog's tags, parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// one entry per catalog table, in catalog order
    pub tables: Vec<TableTags>,
    pub problems: Vec<Problem>,
}

pub fn analyze(cat: &Catalog) -> Analysis {
    let mut problems = Vec::new();
    let mut tables = Vec::with_capacity(cat.tables.len());
    for (index, t) in cat.tables.iter().enumerate() {
        let report = |column: Option<&str>, p: tags::TagProblem, out: &mut Vec<Problem>| {
            out.push(Problem {
                schema_name: t.schema.clone(),
                table_name: t.name.clone(),
                column_name: column.map(str::to_owned),
                word: p.word,
                problem: p.problem,
            })
        };
        let table = match &t.comment {
            Some(c) => {
                let (tag, probs) = tags::parse_table_comment(c);
                for p in probs {
                    report(None, p, &mut problems);
                }
                tag
            }
            None => TableTag::default(),
        };
        let mut columns = Vec::new();
        for c in &t.columns {
            let Some(comment) = &c.comment else { continue };
            match tags::parse_column_comment(comment) {
                Ok(None) => {}
                Err(probs) => probs.into_iter().for_each(|p| report(Some(&c.name), p, &mut problems)),
                Ok(Some(tag)) => {
                    let class = c.type_class();
                    let fit = tags::check_fit(&tag, class, c.not_null);
                    if !fit.is_empty() {
                        fit.into_iter().for_each(|p| report(Some(&c.name), p, &mut problems));
                        continue;
                    }
                    columns.push(TaggedColumn {
                        name: c.name.clone(),
                        data_type: c.data_type.clone(),
                        type_ident: c.type_ident.clone(),
                        eq_op: c.eq_op.clone().unwrap_or_else(|| "OPERATOR(pg_catalog.=)".into()),
                        cast_ident: c.base_type_ident.clone().unwrap_or_else(|| c.type_ident.clone()),
                        class,
                        strategy: tags::effective_strategy(&tag, class),
                        tag,
                        unique: c.unique,
                        not_null: c.not_null,
                    });
                }
            }
        }
        tables.push(TableTags { index, table, columns });
    }
    Analysis { tables, problems }
}

/// One row of the `forget.pii_columns` view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiiColumnRow {
    pub schema_name: String,
    pub table_name: String,
    pub column_name: String,
    pub data_type: String,
    pub roles: Vec<String>,
    pub strategy: Option<String>,
    pub tag: String,
    pub via_fk: bool,
}

/// The rows of `forget.pii_columns`: every column with a valid tag, with
/// whether its table is reached only through foreign keys (`via_fk`).
pub fn pii_columns(cat: &Catalog, a: &Analysis) -> Vec<PiiColumnRow> {
    let reach = crate::graph::Graph::new(cat, a).reach();
    let mut rows = Vec::new();
    for tt in &a.tables {
        let t = &cat.tables[tt.index];
        let via_fk = reach[tt.index].via_fk();
        for c in &tt.columns {
            rows.push(PiiColumnRow {
                schema_name: t.schema.clone(),
                table_name: t.name.clone(),
                column_name: c.name.clone(),
                data_type: c.data_type.clone(),
                roles: c.tag.roles.iter().map(|r| r.as_str().to_owned()).collect(),
                strategy: c.strategy.as_ref().map(|s| s.to_string()),
                tag: c.tag.text.clone(),
                via_fk,
            });
        }
    }
    rows
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub fn col(name: &str, base: &str, cat: &str, comment: Option<&str>) -> Column {
        Column {
            name: name.into(),
            num: 0,
            data_type: base.into(),
            base_type: base.into(),
            type_ident: format!("\"pg_catalog\".\"{base}\""),
            eq_op: None,
            base_type_ident: None,
            category: cat.into(),
            not_null: false,
            comment: comment.map(Into::into),
            unique: false,
        }
    }

    pub fn table(oid: i64, schema: &str, name: &str, comment: Option<&str>, columns: Vec<Column>) -> Table {
        Table {
            oid,
            schema: schema.into(),
            name: name.into(),
            partitioned: false,
            comment: comment.map(Into::into),
            primary_key: Some(vec!["id".into()]),
            columns,
        }
    }

    pub fn fk(child: i64, child_col: &str, parent: i64) -> ForeignKey {
        ForeignKey {
            name: format!("fk_{child}_{child_col}"),
            child,
            parent,
            child_columns: vec![child_col.into()],
            parent_columns: vec!["id".into()],
            on_delete: "a".into(),
        }
    }

    /// users (subject) <- events (child, tagged) ; users -> addresses (parent, tagged); countries untagged
    pub fn portal() -> Catalog {
        Catalog {
            tables: vec![
                table(
                    1,
                    "app",
                    "users",
                    Some("accounts\n@pii subjects"),
                    vec![
                        col("id", "int4", "N", None),
                        col("username", "text", "S", Some("Login.\n@pii subject")),
                        col("email", "text", "S", Some("@pii email")),
                        col("address_id", "int4", "N", None),
                    ],
                ),
                table(
                    2,
                    "app",
                    "events",
                    None,
                    vec![
                        col("id", "int4", "N", None),
                        col("user_id", "int4", "N", None),
                        col("ip", "inet", "I", Some("@pii ip")),
                        col("message", "text", "S", Some("@pii scrub")),
                    ],
                ),
                table(
                    3,
                    "app",
                    "addresses",
                    None,
                    vec![col("id", "int4", "N", None), col("street", "text", "S", Some("@pii"))],
                ),
                table(4, "app", "countries", None, vec![col("id", "int4", "N", None)]),
            ],
            foreign_keys: vec![fk(2, "user_id", 1), fk(1, "address_id", 3)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn catalog_json_deserializes() {
        let j = r#"{"tables":[{"oid":16384,"schema":"app","name":"u","partitioned":false,"comment":null,
            "primary_key":["id"],"columns":[{"name":"id","num":1,"data_type":"integer","base_type":"int4",
            "category":"N","not_null":true,"comment":null,"unique":true}]}],
            "foreign_keys":[{"name":"f","child":1,"parent":2,"child_columns":["a"],"parent_columns":["b"],"on_delete":"c"}]}"#;
        let c: Catalog = serde_json::from_str(j).unwrap();
        assert_eq!(c.tables[0].columns[0].name, "id");
        assert!(c.tables[0].columns[0].unique);
        assert_eq!(c.foreign_keys[0].on_delete, "c");
    }

    #[test]
    fn analysis_finds_tagged_columns_and_table_tags() {
        let cat = portal();
        let a = analyze(&cat);
        assert!(a.problems.is_empty(), "{:?}", a.problems);
        assert!(a.tables[0].table.subjects);
        assert_eq!(a.tables[0].columns.len(), 2);
        assert!(a.tables[0].has_role(Role::Subject));
        assert_eq!(a.tables[1].columns.len(), 2);
        assert!(!a.tables[3].is_tagged());
    }

    #[test]
    fn problems_name_table_column_and_word() {
        let mut cat = portal();
        cat.tables[1].columns[3].comment = Some("free text\n@pii scrub frobnicate".into());
        cat.tables[2].comment = Some("@pii remove".into());
        let a = analyze(&cat);
        assert_eq!(a.problems.len(), 2, "{:?}", a.problems);
        let p = &a.problems[0];
        assert_eq!((p.schema_name.as_str(), p.table_name.as_str()), ("app", "events"));
        assert_eq!(p.column_name.as_deref(), Some("message"));
        assert_eq!(p.word, "frobnicate");
        assert_eq!(p.target(), "app.events.message");
        assert_eq!(a.problems[1].column_name, None);
        assert_eq!(a.problems[1].word, "remove");
        // a column with a problem is not treated as tagged
        assert_eq!(a.tables[1].columns.len(), 1);
    }

    #[test]
    fn type_misfit_is_a_problem() {
        let mut cat = portal();
        cat.tables[1].columns[1].comment = Some("@pii email".into()); // int4 column
        let a = analyze(&cat);
        assert_eq!(a.problems.len(), 1);
        assert_eq!(a.problems[0].column_name.as_deref(), Some("user_id"));
    }

    #[test]
    fn pii_columns_rows_with_via_fk() {
        let cat = portal();
        let a = analyze(&cat);
        let rows = pii_columns(&cat, &a);
        let get = |t: &str, c: &str| rows.iter().find(|r| r.table_name == t && r.column_name == c).unwrap();
        assert_eq!(rows.len(), 5);
        let u = get("users", "username");
        assert_eq!(u.roles, vec!["subject"]);
        assert_eq!(u.strategy.as_deref(), Some("subject"));
        assert_eq!(u.tag, "@pii subject");
        assert!(!u.via_fk);
        assert!(get("events", "ip").via_fk);
        assert_eq!(get("events", "ip").strategy.as_deref(), Some("ip"));
        assert!(get("addresses", "street").via_fk);
        assert_eq!(get("addresses", "street").strategy.as_deref(), Some("redact"));
    }
}
