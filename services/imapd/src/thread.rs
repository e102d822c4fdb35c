//! THREAD=REFERENCES (RFC 5256 §2.2), simplified: parent/child links from
//! Message-ID, References and In-Reply-To, siblings and roots ordered by
//! sent date. The subject-merging steps (§2.2 step 5) are not done: replies
//! without References stay separate threads.

use crate::cache::Summary;
use std::collections::HashMap;
use std::sync::Arc;

/// Formats the threads of `(number, summary, date)` items.
pub fn references(items: &[(u32, Arc<Summary>, i64)]) -> String {
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (i, (_, s, _)) in items.iter().enumerate() {
        if !s.message_id.is_empty() {
            by_id.entry(s.message_id.as_str()).or_insert(i);
        }
    }
    let mut parent: Vec<Option<usize>> = vec![None; items.len()];
    for (i, (_, s, _)) in items.iter().enumerate() {
        // The nearest ancestor present in the set becomes the parent;
        // guard against cycles by refusing a parent that descends from us.
        for r in s.references.iter().rev() {
            if let Some(&p) = by_id.get(r.as_str())
                && p != i
            {
                let mut a = Some(p);
                let mut cycle = false;
                let mut steps = 0;
                while let Some(x) = a {
                    if x == i || steps > items.len() {
                        cycle = true;
                        break;
                    }
                    a = parent[x];
                    steps += 1;
                }
                if !cycle {
                    parent[i] = Some(p);
                }
                break;
            }
        }
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    let mut roots = Vec::new();
    for (i, p) in parent.iter().enumerate() {
        match *p {
            Some(p) => children[p].push(i),
            None => roots.push(i),
        }
    }
    let key = |i: &usize| (items[*i].2, items[*i].0);
    roots.sort_by_key(key);
    for c in &mut children {
        c.sort_by_key(key);
    }
    fn fmt(
        i: usize,
        items: &[(u32, Arc<Summary>, i64)],
        children: &[Vec<usize>],
        out: &mut String,
        depth: usize,
    ) {
        out.push_str(&items[i].0.to_string());
        let kids = &children[i];
        if depth > 1000 {
            return;
        }
        match kids.len() {
            0 => {}
            1 => {
                out.push(' ');
                fmt(kids[0], items, children, out, depth + 1);
            }
            _ => {
                out.push(' ');
                for k in kids {
                    out.push('(');
                    fmt(*k, items, children, out, depth + 1);
                    out.push(')');
                }
            }
        }
    }
    let mut out = String::new();
    for r in roots {
        out.push('(');
        fmt(r, items, &children, &mut out, 0);
        out.push(')');
    }
    out
}
