//! Sequence sets (`1:3,7,9:*`, RFC 9051 §9 `sequence-set`).

/// Parsed sequence set: inclusive ranges, `*` already resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqSet(pub Vec<(u32, u32)>);

impl SeqSet {
    /// Parses `s`, resolving `*` to `max` (the largest number in use).
    pub fn parse(s: &str, max: u32) -> Option<SeqSet> {
        let num = |x: &str| -> Option<u32> {
            if x == "*" {
                Some(max)
            } else {
                x.parse().ok().filter(|n| *n > 0)
            }
        };
        let mut v = Vec::new();
        for part in s.split(',') {
            let (a, b) = match part.split_once(':') {
                Some((a, b)) => (num(a)?, num(b)?),
                None => {
                    let n = num(part)?;
                    (n, n)
                }
            };
            v.push((a.min(b), a.max(b)));
        }
        if v.is_empty() { None } else { Some(SeqSet(v)) }
    }

    /// How many numbers the set holds (ranges may overlap; each counts).
    pub fn size(&self) -> u64 {
        self.0.iter().map(|(a, b)| u64::from(b - a) + 1).sum()
    }

    /// The numbers in the order written, lazily (a set may be huge).
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().flat_map(|&(a, b)| a..=b)
    }

    /// Whether `n` is in the set.
    pub fn contains(&self, n: u32) -> bool {
        self.0.iter().any(|(a, b)| (*a..=*b).contains(&n))
    }
}

/// Formats sorted numbers compactly (`1:3,7`).
pub fn format(nums: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < nums.len() {
        let start = nums[i];
        let mut end = start;
        while i + 1 < nums.len() && nums[i + 1] == end + 1 {
            i += 1;
            end = nums[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format() {
        let s = SeqSet::parse("3:1,7,9:*", 10).unwrap();
        assert_eq!(s.0, [(1, 3), (7, 7), (9, 10)]);
        assert!(s.contains(10) && !s.contains(8));
        assert_eq!(SeqSet::parse("0", 5), None);
        assert_eq!(SeqSet::parse("a", 5), None);
        assert_eq!(format(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
    }
}
