//! Spreadsheet damage: telling an identifier that a spreadsheet turned into a number (scientific notation, rounded
//! to 15 significant digits, leading zeros dropped, hex read as a number) from one that is merely mistyped.

use super::ErrorCode;
use super::ids::IdError;
use crate::input::{Cell, Field};
use std::borrow::Cow;

/// The largest integer a double holds exactly; beyond it a spreadsheet number has lost digits.
const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// What a spreadsheet keeps of a number: 15 significant digits.
const EXCEL_DIGITS: usize = 15;

const FIX: &str = "format the column as Text in the spreadsheet, re-enter the identifiers from the original \
                   source and export again";

/// True when text looks like a spreadsheet's scientific notation (`1.11111E+15`, `8.92080135357187E+19`).
pub fn is_scientific(text: &str) -> bool {
    let t = text.trim();
    let Some(e) = t.find(['E', 'e']) else {
        return false;
    };
    let (mantissa, exponent) = (&t[..e], &t[e + 1..]);
    let Some(exponent) = exponent.strip_prefix('+') else {
        return false;
    };
    let mut parts = mantissa.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next().unwrap_or("0");
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && !frac.is_empty()
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !exponent.is_empty()
        && exponent.bytes().all(|b| b.is_ascii_digit())
}

/// A number the way a spreadsheet shows it when it no longer fits: `8.92080135357187E+19`.
fn scientific(value: f64) -> String {
    let s = format!("{:.*E}", EXCEL_DIGITS - 1, value);
    let (mantissa, exponent) = s.split_once('E').unwrap_or((&s, "0"));
    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
    let exponent = exponent
        .strip_prefix('-')
        .map_or(format!("+{exponent}"), |e| format!("-{e}"));
    format!("{mantissa}E{exponent}")
}

fn damage(message: String) -> IdError {
    IdError {
        code: ErrorCode::ExcelDamage,
        message,
    }
}

fn label(field: Field) -> &'static str {
    match field {
        Field::DevEui => "DevEUI",
        Field::JoinEui => "JoinEUI",
        Field::AppKey => "AppKey",
        Field::NwkKey => "NwkKey",
        Field::DevAddr => "DevAddr",
        Field::NwkSKey => "NwkSKey",
        Field::AppSKey => "AppSKey",
        Field::SNwkSIntKey => "SNwkSIntKey",
        Field::NwkSEncKey => "NwkSEncKey",
        Field::Imei => "IMEI",
        Field::Sim => "SIM identifier",
        Field::Iccid => "ICCID",
        Field::Eid => "EID",
        Field::Imsi => "IMSI",
        other => other.name(),
    }
}

/// The digits a decimal identifier column needs at least; fewer from a number means leading zeros were dropped.
fn min_digits(field: Field) -> usize {
    match field {
        Field::Imei => 15,
        Field::Iccid | Field::Sim => 19,
        Field::Eid => 32,
        _ => 1,
    }
}

/// True for a cell that stands for "nothing here" in an identifier column: `0`, `-`, `N/A`, `none`, `null` (and the
/// number 0 a spreadsheet keeps for a typed `0`). Whether it may be read as empty is the row check's decision.
pub fn is_placeholder(cell: &Cell) -> bool {
    match cell {
        Cell::Text(s) => {
            let t = s.trim();
            ["0", "-", "n/a", "na", "none", "null"]
                .iter()
                .any(|p| t.eq_ignore_ascii_case(p))
        }
        Cell::Int(0) => true,
        Cell::Float(f) => *f == 0.0,
        _ => false,
    }
}

/// The digits a hex identifier has; an all-digit value a few short is one a spreadsheet stripped of leading zeros.
fn hex_length(field: Field) -> Option<usize> {
    match field {
        Field::DevEui | Field::JoinEui => Some(16),
        Field::DevAddr => Some(8),
        _ => None,
    }
}

/// The text of an identifier cell, ready for its parser, or why the cell cannot hold that identifier.
/// `Ok(None)` for a blank cell.
pub fn identifier_text(field: Field, cell: &Cell) -> Result<Option<Cow<'_, str>>, IdError> {
    let what = label(field);
    let secret = field.is_secret();
    match cell {
        Cell::Empty => Ok(None),
        Cell::Text(s) if s.trim().is_empty() => Ok(None),
        Cell::Text(s) => {
            if is_scientific(s) {
                let shown = if secret {
                    String::new()
                } else {
                    format!(" '{}'", s.trim())
                };
                return Err(damage(format!(
                    "{what}{shown} is in scientific notation: a spreadsheet turned the identifier into a number \
                     and dropped digits; {FIX}"
                )));
            }
            let t = s.trim();
            if let Some(len) = hex_length(field)
                && !t.is_empty()
                && t.len() < len
                && t.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(damage(format!(
                    "{what} '{t}' has {} digits, all decimal, where a {what} has {len} hex digits: a spreadsheet \
                     dropped its leading zeros; {FIX}",
                    t.len()
                )));
            }
            Ok(Some(Cow::Borrowed(s.as_str())))
        }
        Cell::Int(i) => number(field, *i as f64, Some(*i)),
        Cell::Float(f) => number(field, *f, None),
        Cell::Date(d) => Err(damage(format!(
            "{what} holds a date ({}): a spreadsheet read the identifier as a date; {FIX}",
            if secret { "hidden" } else { d.as_str() }
        ))),
        Cell::Bool(b) => Err(IdError {
            code: ErrorCode::Invalid,
            message: format!("{what} holds the logical value {b}, not an identifier"),
        }),
        Cell::Error(e) => Err(IdError {
            code: ErrorCode::Invalid,
            message: format!("{what} holds the spreadsheet error {e}, not an identifier"),
        }),
    }
}

/// What a rework file writes back for an identifier cell: its text when the cell holds a usable identifier text,
/// else, for damage, the cell exactly as the spreadsheet shows it when that can never pass as an identifier again
/// (scientific notation), or nothing. A damaged cell is never turned into plausible digits: a DevEUI stored as the
/// number 7.00300000000123E+15 must not come back as the valid-looking text `7003000000001230`.
pub fn rework_text(field: Field, cell: &Cell) -> String {
    match identifier_text(field, cell) {
        Ok(text) => text.map(Cow::into_owned).unwrap_or_default(),
        Err(_) => {
            let shown = match cell {
                Cell::Int(i) => shown_number(*i as f64),
                Cell::Float(f) => shown_number(*f),
                Cell::Text(s) => s.trim().to_string(),
                Cell::Empty | Cell::Date(_) | Cell::Bool(_) | Cell::Error(_) => String::new(),
            };
            if is_scientific(&shown) {
                shown
            } else {
                String::new()
            }
        }
    }
}

/// A number as a spreadsheet exports it: its digits up to 15, scientific notation beyond.
fn shown_number(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value}")
    } else {
        scientific(value)
    }
}

fn number(
    field: Field,
    value: f64,
    exact: Option<i64>,
) -> Result<Option<Cow<'static, str>>, IdError> {
    let what = label(field);
    if field.is_hex() {
        let shown = if field.is_secret() {
            String::new()
        } else if value.abs() >= EXACT_LIMIT || value.fract() != 0.0 {
            format!(" ({})", scientific(value))
        } else {
            format!(" ({value})")
        };
        return Err(damage(format!(
            "{what} is stored as a number{shown}: a spreadsheet read the hex identifier as a number, which drops \
             leading zeros and digits and turns values like 1E5 into 100000; {FIX}"
        )));
    }
    if value < 0.0 || value.fract() != 0.0 || !value.is_finite() {
        return Err(IdError {
            code: ErrorCode::Invalid,
            message: format!("{what} holds the number {value}, which is not an identifier"),
        });
    }
    let beyond = exact.is_none() && value >= EXACT_LIMIT;
    let digits = match exact {
        Some(i) => i.to_string(),
        None if !beyond => format!("{}", value as u64),
        None => String::new(),
    };
    if beyond || digits.len() > EXCEL_DIGITS {
        return Err(damage(format!(
            "{what} is stored as a number ({}), which keeps only {EXCEL_DIGITS} significant digits: the last \
             digits are lost; {FIX}",
            scientific(value)
        )));
    }
    if digits.len() < min_digits(field) {
        return Err(damage(format!(
            "{what} is stored as a number ({digits}) of {} digits; a {what} has {}: a spreadsheet dropped its \
             leading zeros; {FIX}",
            digits.len(),
            min_digits(field)
        )));
    }
    Ok(Some(Cow::Owned(digits)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(field: Field, cell: Cell) -> Option<ErrorCode> {
        identifier_text(field, &cell).err().map(|e| e.code)
    }

    #[test]
    fn scientific_text_is_damage() {
        assert!(is_scientific("1.11111E+15"));
        assert!(is_scientific(" 8.92080135357187E+19 "));
        assert!(is_scientific("1E+15"));
        assert!(!is_scientific("70B3D5E75600001E"));
        assert!(!is_scientific("1E5"));
        assert!(!is_scientific("E+15"));
        let err = identifier_text(Field::DevEui, &Cell::Text("1.11111E+15".into())).unwrap_err();
        assert_eq!(err.code, ErrorCode::ExcelDamage);
        assert!(err.message.contains("Text"), "{}", err.message);
        assert_eq!(
            code(Field::Iccid, Cell::Text("8.92080135357187E+19".into())),
            Some(ErrorCode::ExcelDamage)
        );
    }

    #[test]
    fn a_fifteen_digit_imei_number_is_exact() {
        assert_eq!(
            identifier_text(Field::Imei, &Cell::Float(490154203237518.0))
                .unwrap()
                .as_deref(),
            Some("490154203237518")
        );
        assert_eq!(
            identifier_text(Field::Imei, &Cell::Int(490154203237518))
                .unwrap()
                .as_deref(),
            Some("490154203237518")
        );
    }

    #[test]
    fn a_lost_leading_zero_is_damage() {
        // 049015420323751? stored as a number: 14 digits that may still pass Luhn.
        let err = identifier_text(Field::Imei, &Cell::Float(49015420323751.0)).unwrap_err();
        assert_eq!(err.code, ErrorCode::ExcelDamage);
        assert!(err.message.contains("leading zeros"), "{}", err.message);
    }

    #[test]
    fn long_numbers_are_damage() {
        let err = identifier_text(Field::Iccid, &Cell::Float(89208013535718672291.0)).unwrap_err();
        assert_eq!(err.code, ErrorCode::ExcelDamage);
        assert!(
            err.message.contains("8.92080135357187E+19"),
            "{}",
            err.message
        );
        assert_eq!(
            code(Field::Eid, Cell::Float(8.904903212345123e31)),
            Some(ErrorCode::ExcelDamage)
        );
        assert_eq!(
            code(Field::Sim, Cell::Float(8.920801353571867e18)),
            Some(ErrorCode::ExcelDamage)
        );
        assert_eq!(
            code(Field::Imei, Cell::Float(1111111111111110.0)),
            Some(ErrorCode::ExcelDamage)
        );
    }

    #[test]
    fn hex_identifiers_as_numbers_are_damage() {
        assert_eq!(
            code(Field::DevEui, Cell::Float(100000.0)),
            Some(ErrorCode::ExcelDamage)
        );
        assert_eq!(
            code(Field::DevEui, Cell::Float(1111111111111111.0)),
            Some(ErrorCode::ExcelDamage)
        );
        assert_eq!(
            code(Field::DevAddr, Cell::Int(12345678)),
            Some(ErrorCode::ExcelDamage)
        );
        let err = identifier_text(Field::AppKey, &Cell::Float(1.2345678901234567e31)).unwrap_err();
        assert_eq!(err.code, ErrorCode::ExcelDamage);
        assert!(!err.message.contains("1.2345"), "{}", err.message);
    }

    #[test]
    fn dates_errors_and_bools_are_rejected() {
        assert_eq!(
            code(Field::DevEui, Cell::Date("2021-03-04".into())),
            Some(ErrorCode::ExcelDamage)
        );
        assert_eq!(
            code(Field::Imei, Cell::Error("#N/A".into())),
            Some(ErrorCode::Invalid)
        );
        assert_eq!(
            code(Field::Imei, Cell::Bool(true)),
            Some(ErrorCode::Invalid)
        );
        assert_eq!(identifier_text(Field::Imei, &Cell::Empty).unwrap(), None);
        assert_eq!(
            identifier_text(Field::Imei, &Cell::Text("  ".into())).unwrap(),
            None
        );
    }

    #[test]
    fn rework_text_never_turns_damage_into_an_identifier() {
        // The DevEUI: Excel stored 7003000000001230 as a double.
        let shown = rework_text(Field::DevEui, &Cell::Float(7.00300000000123e15));
        assert_eq!(shown, "7.00300000000123E+15");
        assert_eq!(
            code(Field::DevEui, Cell::Text(shown)),
            Some(ErrorCode::ExcelDamage)
        );
        // Digits that would parse as an identifier are left out; the error column says what was there.
        assert_eq!(rework_text(Field::DevAddr, &Cell::Int(12345678)), "");
        assert_eq!(rework_text(Field::Imei, &Cell::Float(49015420323751.0)), "");
        assert_eq!(
            rework_text(Field::DevEui, &Cell::Date("2021-03-04".into())),
            ""
        );
        // A sound identifier is written as its text.
        assert_eq!(
            rework_text(Field::Imei, &Cell::Float(490154203237518.0)),
            "490154203237518"
        );
        assert_eq!(
            rework_text(Field::DevEui, &Cell::Text("70B3D5E75E000001".into())),
            "70B3D5E75E000001"
        );
    }

    #[test]
    fn scientific_display_matches_a_spreadsheet() {
        assert_eq!(scientific(89208013535718672291.0), "8.92080135357187E+19");
        assert_eq!(scientific(1e21), "1E+21");
    }
}
