//! The foreign-key graph between (root) tables and how each table is reached
//! from the tables that hold a `subject` column. Pure: built from the
//! catalog structs, no pgrx.
//!
//! Reach follows SPEC section 2: rows that reference a person's row (directly
//! or through a chain, any depth) are the person's (`Child`); a tagged row
//! that the person's rows reference is the person's when nobody else
//! references it (`Parent`; the "alone" part is decided per row in SQL).
//! Children are followed from subject and child tables only, never from a
//! parent (other rows referencing a shared parent belong to other people).

use std::collections::{HashMap, VecDeque};

use crate::catalog::{Analysis, Catalog};
use crate::tags::Role;

/// How a table is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// not connected to any subject table
    None,
    /// has a `subject` column
    Subject,
    /// references a person's rows through a chain of foreign keys
    Child,
    /// referenced by a person's rows (tagged tables only)
    Parent,
}

impl Reach {
    pub fn via_fk(self) -> bool {
        matches!(self, Reach::Child | Reach::Parent)
    }
}

pub struct Graph<'a> {
    pub cat: &'a Catalog,
    pub analysis: &'a Analysis,
    /// for each table: indexes of foreign keys where it is the parent
    pub referenced_by: Vec<Vec<usize>>,
    /// for each table: indexes of foreign keys where it is the child
    pub references: Vec<Vec<usize>>,
    /// per foreign key: (child table index, parent table index)
    pub edges: Vec<(usize, usize)>,
}

impl<'a> Graph<'a> {
    pub fn new(cat: &'a Catalog, analysis: &'a Analysis) -> Self {
        let by_oid: HashMap<i64, usize> = cat.tables.iter().enumerate().map(|(i, t)| (t.oid, i)).collect();
        let n = cat.tables.len();
        let mut referenced_by = vec![Vec::new(); n];
        let mut references = vec![Vec::new(); n];
        let mut edges = Vec::with_capacity(cat.foreign_keys.len());
        for (k, fk) in cat.foreign_keys.iter().enumerate() {
            let (Some(&c), Some(&p)) = (by_oid.get(&fk.child), by_oid.get(&fk.parent)) else {
                edges.push((usize::MAX, usize::MAX));
                continue;
            };
            edges.push((c, p));
            referenced_by[p].push(k);
            references[c].push(k);
        }
        Graph { cat, analysis, referenced_by, references, edges }
    }

    /// How each table (by catalog index) is reached from the subject tables.
    pub fn reach(&self) -> Vec<Reach> {
        self.discover().0
    }

    /// How each table is reached, and the reached tables in the order they were
    /// discovered (subject tables, then children breadth first, then parents).
    /// A table's rows are decided from tables discovered before it, so this
    /// order has no cycles.
    pub fn discover(&self) -> (Vec<Reach>, Vec<usize>) {
        let n = self.cat.tables.len();
        let mut reach = vec![Reach::None; n];
        let mut order = Vec::new();
        let mut queue = VecDeque::new();
        for tt in &self.analysis.tables {
            if tt.has_role(Role::Subject) {
                reach[tt.index] = Reach::Subject;
                queue.push_back(tt.index);
                order.push(tt.index);
            }
        }
        // children, any depth, breadth first (cycles stop at visited tables)
        while let Some(t) = queue.pop_front() {
            for &k in &self.referenced_by[t] {
                let (c, _) = self.edges[k];
                if reach[c] == Reach::None {
                    reach[c] = Reach::Child;
                    queue.push_back(c);
                    order.push(c);
                }
            }
        }
        // parents: tagged tables referenced by a reached table, and their tagged parents
        let mut queue: VecDeque<usize> = (0..n).filter(|&i| reach[i] != Reach::None).collect();
        while let Some(t) = queue.pop_front() {
            for &k in &self.references[t] {
                let (_, p) = self.edges[k];
                if reach[p] == Reach::None && self.analysis.tables[p].is_tagged() {
                    reach[p] = Reach::Parent;
                    queue.push_back(p);
                    order.push(p);
                }
            }
        }
        (reach, order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::analyze;
    use crate::catalog::fixtures::*;

    fn reach_of(cat: &Catalog) -> Vec<Reach> {
        let a = analyze(cat);
        Graph::new(cat, &a).reach()
    }

    #[test]
    fn portal_reach() {
        let r = reach_of(&portal());
        assert_eq!(r, vec![Reach::Subject, Reach::Child, Reach::Parent, Reach::None]);
    }

    #[test]
    fn chains_three_deep_and_cycles_terminate() {
        let mut cat = portal();
        cat.tables.push(table(5, "app", "comments", None, vec![col("id", "int4", "N", None)]));
        cat.tables.push(table(6, "app", "likes", None, vec![col("id", "int4", "N", None)]));
        cat.foreign_keys.push(fk(5, "event_id", 2));
        cat.foreign_keys.push(fk(6, "comment_id", 5));
        cat.foreign_keys.push(fk(2, "like_id", 6)); // cycle events -> likes -> comments -> events
        cat.foreign_keys.push(fk(5, "parent_id", 5)); // self reference
        let r = reach_of(&cat);
        assert_eq!(r[4], Reach::Child);
        assert_eq!(r[5], Reach::Child);
    }

    #[test]
    fn untagged_parents_are_not_reached_and_parents_do_not_spread_to_children() {
        let mut cat = portal();
        // countries is untagged: referenced by addresses, not reached
        cat.foreign_keys.push(fk(3, "country_id", 4));
        // shops reference addresses too: other people's rows, not reached
        cat.tables.push(table(5, "app", "shops", None, vec![col("id", "int4", "N", None)]));
        cat.foreign_keys.push(fk(5, "address_id", 3));
        let r = reach_of(&cat);
        assert_eq!(r[3], Reach::None);
        assert_eq!(r[4], Reach::None);
    }

    #[test]
    fn discovery_order_puts_subjects_then_children_then_parents() {
        let cat = portal();
        let a = analyze(&cat);
        let (_, order) = Graph::new(&cat, &a).discover();
        assert_eq!(order, vec![0, 1, 2]);
    }

    #[test]
    fn foreign_keys_to_tables_outside_the_catalog_are_ignored() {
        let mut cat = portal();
        cat.foreign_keys.push(fk(999, "x", 1));
        let r = reach_of(&cat);
        assert_eq!(r.len(), 4);
    }
}
