//! Tags and domains, as a cell lists them: parsed into values the platform's patterns accept (the OpenAPI file's
//! `TagName` and `Domain`), or an error saying which part of the cell is wrong.

/// What separates the tags (or domains) of one cell. A comma is not one: the platform allows it inside a tag.
pub const SEPARATORS: [char; 2] = [';', '|'];

/// The longest tag the platform takes (`TagName`: 1 to 40 characters).
pub const TAG_MAX: usize = 40;
/// The longest domain group name, and each level of a domain name (`Domain`: 1 to 20 characters).
const DOMAIN_PART_MAX: usize = 20;
/// Levels of a domain name (`France/Paris`): the pattern allows up to five.
const DOMAIN_LEVELS: usize = 5;

/// A device tag: 1 to 40 characters, no control character, no `<` or `>`, no space at either end.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

/// A device domain: its group's name and its own (`Site:France/Paris` in a file).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain {
    pub group: String,
    pub name: String,
}

impl Tag {
    pub fn parse(text: &str) -> Result<Tag, String> {
        let tag = text.trim();
        let chars = tag.chars().count();
        if chars > TAG_MAX {
            return Err(format!(
                "tag '{tag}' is {chars} characters long; a tag has at most {TAG_MAX}"
            ));
        }
        if let Some(c) = tag
            .chars()
            .find(|c| matches!(c, '<' | '>') || c.is_control())
        {
            return Err(format!(
                "tag '{tag}' holds {}, which a tag may not",
                shown(c)
            ));
        }
        Ok(Tag(tag.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Domain {
    /// `group:name`; the name may have levels (`Site:France/Paris`).
    pub fn parse(text: &str) -> Result<Domain, String> {
        let text = text.trim();
        let Some((group, name)) = text.split_once(':') else {
            return Err(format!(
                "domain '{text}' has no group: write it group:name (e.g. Site:France/Paris)"
            ));
        };
        let (group, name) = (group.trim(), name.trim());
        check_part(group, "group", &[]).map_err(|e| format!("domain '{text}': {e}"))?;
        let levels: Vec<&str> = name.split('/').collect();
        if levels.len() > DOMAIN_LEVELS {
            return Err(format!(
                "domain '{text}': a domain name has at most {DOMAIN_LEVELS} levels separated by '/'"
            ));
        }
        for level in levels {
            check_part(level, "name", &['/']).map_err(|e| format!("domain '{text}': {e}"))?;
        }
        Ok(Domain {
            group: group.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.group, self.name)
    }
}

/// One part of a domain (its group, or a level of its name): 1 to 20 characters, no space at either end, no
/// control character, no `:` `<` `>` nor any of `also`.
fn check_part(part: &str, what: &str, also: &[char]) -> Result<(), String> {
    if part.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if part.trim() != part {
        return Err(format!("the {what} '{part}' starts or ends with a space"));
    }
    let chars = part.chars().count();
    if chars > DOMAIN_PART_MAX {
        return Err(format!(
            "the {what} '{part}' is {chars} characters long; at most {DOMAIN_PART_MAX}"
        ));
    }
    if let Some(c) = part
        .chars()
        .find(|c| matches!(c, ':' | '<' | '>') || also.contains(c) || c.is_control())
    {
        return Err(format!("the {what} '{part}' holds {}", shown(c)));
    }
    Ok(())
}

fn shown(c: char) -> String {
    if c.is_control() {
        format!("a control character (U+{:04X})", u32::from(c))
    } else {
        format!("'{c}'")
    }
}

/// The non-empty items of a cell, split on [`SEPARATORS`] and trimmed.
pub fn items(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(SEPARATORS)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A cell's tags, sorted and without repeats, or the message of every malformed one.
pub fn tags(cell: &str) -> Result<Vec<Tag>, Vec<String>> {
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for item in items(cell) {
        match Tag::parse(item) {
            Ok(tag) => ok.push(tag),
            Err(e) => bad.push(e),
        }
    }
    if !bad.is_empty() {
        return Err(bad);
    }
    ok.sort();
    ok.dedup();
    Ok(ok)
}

/// A cell's domains, sorted, at most one per group (the platform's rule), or the message of every bad one.
pub fn domains(cell: &str) -> Result<Vec<Domain>, Vec<String>> {
    let (mut ok, mut bad) = (Vec::<Domain>::new(), Vec::new());
    for item in items(cell) {
        match Domain::parse(item) {
            Ok(domain) if ok.contains(&domain) => {}
            Ok(domain) => match ok.iter().find(|d| d.group == domain.group) {
                Some(first) => bad.push(format!(
                    "domains '{first}' and '{domain}' are both in group '{}'; a device has one domain per group",
                    domain.group
                )),
                None => ok.push(domain),
            },
            Err(e) => bad.push(e),
        }
    }
    if !bad.is_empty() {
        return Err(bad);
    }
    ok.sort();
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_on_semicolons_and_bars_and_keep_commas_and_inner_spaces() {
        let got = tags(" shipment 42 ; lot,7|shipment 42;; ").unwrap();
        let got: Vec<&str> = got.iter().map(Tag::as_str).collect();
        assert_eq!(got, ["lot,7", "shipment 42"]);
        assert_eq!(tags("").unwrap(), Vec::<Tag>::new());
    }

    #[test]
    fn a_malformed_tag_is_named_with_what_is_wrong() {
        let long = "x".repeat(41);
        let errors = tags(&format!("ok;<b>;{long}")).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].contains("'<b>'") && errors[0].contains("'<'"),
            "{errors:?}"
        );
        assert!(errors[1].contains("41 characters"), "{errors:?}");
        assert!(tags(&"é".repeat(40)).is_ok(), "40 characters, not bytes");
        assert!(tags("a\u{7}b").unwrap_err()[0].contains("control character"));
    }

    #[test]
    fn domains_read_group_colon_name_with_levels() {
        let got = domains("Vertical:Location | Site:France/Paris").unwrap();
        assert_eq!(
            got,
            [
                Domain {
                    group: "Site".into(),
                    name: "France/Paris".into()
                },
                Domain {
                    group: "Vertical".into(),
                    name: "Location".into()
                },
            ]
        );
        assert_eq!(got[0].to_string(), "Site:France/Paris");
    }

    #[test]
    fn bad_domains_say_why() {
        let errors = domains("Paris;Site:;Site:A/B/C/D/E/F;S<:x").unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].contains("no group"), "{errors:?}");
        assert!(errors[1].contains("name is empty"), "{errors:?}");
        assert!(errors[2].contains("5 levels"), "{errors:?}");
        assert!(errors[3].contains("'<'"), "{errors:?}");
        let errors = domains("Site:Paris;Site:Caen").unwrap_err();
        assert!(errors[0].contains("one domain per group"), "{errors:?}");
        assert!(
            domains("Site:Paris;Site:Paris").is_ok(),
            "a repeat is no conflict"
        );
    }
}
