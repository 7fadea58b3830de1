//! Identifier parsers: the only way to build an `Eui`, `Key`, `DevAddr`, `Imei`, `Iccid`, `Eid`, `Imsi` or `SimId`.
//! Each normalises what people write (spaces, `-`, `:`, `0x`, lower case) and then insists on the exact form.

use super::{AppSKeys, DevAddr, Eid, ErrorCode, Eui, Iccid, Imei, Imsi, Key, SimId};
use crate::secret::mask;

/// Why a value is not a valid identifier. The message never holds key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct IdError {
    pub code: ErrorCode,
    pub message: String,
}

impl IdError {
    fn new(code: ErrorCode, message: String) -> IdError {
        IdError { code, message }
    }
}

/// Trims, drops a `0x` prefix and the separators people put inside identifiers, and upper-cases.
pub fn normalise(raw: &str) -> String {
    let trimmed = raw.trim();
    let body = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .unwrap_or(trimmed);
    body.chars()
        .filter(|&c| !is_separator(c))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn is_separator(c: char) -> bool {
    matches!(c, '-' | ':' | ' ' | '\u{a0}' | '\t')
}

/// Digits only; identifiers made of digits take no `0x` prefix, and upper-casing changes nothing.
fn normalise_digits(raw: &str) -> String {
    raw.trim().chars().filter(|&c| !is_separator(c)).collect()
}

/// How a value is shown in a message: in clear for identifiers, masked for keys.
fn shown(value: &str, secret: bool) -> String {
    if secret {
        mask(value)
    } else {
        format!("'{value}'")
    }
}

fn check_hex(value: &str, what: &str, len: usize, secret: bool) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::new(
            ErrorCode::Missing,
            format!("the {what} is empty"),
        ));
    }
    if let Some(pos) = value.bytes().position(|b| !b.is_ascii_hexdigit()) {
        // For keys the offending character is itself key material, so only its position is given.
        let detail = if secret {
            format!("position {}", pos + 1)
        } else {
            let c = value[pos..].chars().next().unwrap_or('?');
            format!("'{c}' at position {}", pos + 1)
        };
        return Err(IdError::new(
            ErrorCode::Hex,
            format!(
                "{what} {} is not hexadecimal ({detail}); it must be {len} hex digits",
                shown(value, secret)
            ),
        ));
    }
    if value.len() != len {
        return Err(IdError::new(
            ErrorCode::Length,
            format!(
                "{what} {} has {} hex digits; it must have {len}",
                shown(value, secret),
                value.len()
            ),
        ));
    }
    Ok(())
}

fn check_digits(value: &str, what: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::new(
            ErrorCode::Missing,
            format!("the {what} is empty"),
        ));
    }
    if let Some(pos) = value.bytes().position(|b| !b.is_ascii_digit()) {
        let c = value[pos..].chars().next().unwrap_or('?');
        return Err(IdError::new(
            ErrorCode::Invalid,
            format!(
                "{what} '{value}' has a non-digit '{c}' at position {}; it must be digits only",
                pos + 1
            ),
        ));
    }
    Ok(())
}

/// The Luhn sum of `digits`, doubling every other digit from the right, starting with the last one when
/// `double_last` (the digits are a payload without its check digit).
fn luhn_sum(digits: &str, double_last: bool) -> u32 {
    let doubled = usize::from(!double_last);
    digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 != doubled {
                d
            } else if d > 4 {
                d * 2 - 9
            } else {
                d * 2
            }
        })
        .sum()
}

/// True when the digits pass the Luhn check (the last digit being the check digit).
pub fn luhn_valid(digits: &str) -> bool {
    luhn_sum(digits, false).is_multiple_of(10)
}

/// The Luhn check digit to append to `payload`.
pub fn luhn_check_digit(payload: &str) -> u8 {
    ((10 - luhn_sum(payload, true) % 10) % 10) as u8
}

fn wrong_length(v: &str, what: &str, must: &str) -> IdError {
    let message = format!("{what} '{v}' has {} digits; it must have {must}", v.len());
    IdError::new(ErrorCode::Length, message)
}

/// Digits of a length in `lengths` (else an error saying they must have `must`) with a valid Luhn check digit.
fn luhn_checked(
    v: String,
    what: &str,
    lengths: std::ops::RangeInclusive<usize>,
    must: &str,
) -> Result<String, IdError> {
    if !lengths.contains(&v.len()) {
        return Err(wrong_length(&v, what, must));
    }
    if !luhn_valid(&v) {
        return Err(IdError::new(
            ErrorCode::Luhn,
            format!("{what} '{v}' fails its Luhn check digit (a digit is wrong)"),
        ));
    }
    Ok(v)
}

/// The number `digits` modulo 97, digit by digit so that any length works.
pub fn mod97(digits: &str) -> u32 {
    digits
        .bytes()
        .fold(0u32, |acc, b| (acc * 10 + u32::from(b - b'0')) % 97)
}

/// A hex identifier of exactly `len` digits, normalised. Most files hold clean values, so those take a path
/// that only checks and upper-cases; anything else is normalised and then checked.
fn parse_hex(raw: &str, what: &str, len: usize, secret: bool) -> Result<String, IdError> {
    let trimmed = raw.trim();
    if trimmed.len() == len && trimmed.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(trimmed.to_ascii_uppercase());
    }
    let v = normalise(raw);
    check_hex(&v, what, len, secret)?;
    Ok(v)
}

impl Eui {
    /// A DevEUI or JoinEUI: 16 hex digits once normalised.
    pub fn parse(raw: &str) -> Result<Eui, IdError> {
        parse_hex(raw, "EUI", 16, false).map(Eui)
    }

    /// The EUI as a number, for compact duplicate detection.
    pub fn to_u64(&self) -> u64 {
        u64::from_str_radix(&self.0, 16).expect("an Eui holds 16 hex digits")
    }
}

impl Key {
    /// A 128-bit key: 32 hex digits once normalised. Errors show the key masked.
    pub fn parse(raw: &str) -> Result<Key, IdError> {
        parse_hex(raw, "key", 32, true).map(Key)
    }
}

impl AppSKeys {
    /// ThingPark's import column F and the REST `appKeys` field: the XML form
    /// `<AppSKeys><AppSKey Port="*">HEX32</AppSKey>…</AppSKeys>` (one or several ports), or a bare key for every port.
    /// Each key inside is checked like any key; no message shows one.
    pub fn parse(raw: &str) -> Result<AppSKeys, IdError> {
        if raw.trim_start().starts_with('<') {
            AppSKeys::from_xml(raw)
        } else {
            Ok(AppSKeys(vec![("*".to_string(), Key::parse(raw)?)]))
        }
    }

    /// The XML form only, as the platform reads `appKeys`. Written by hand: the form is one fixed element with one
    /// attribute, and an XML crate would accept (and need checks against) everything else XML allows.
    pub fn from_xml(xml: &str) -> Result<AppSKeys, IdError> {
        let bad = |detail: &str| {
            IdError::new(
                ErrorCode::Invalid,
                format!(
                    "AppSKeys is not <AppSKeys><AppSKey Port=\"*\">32 hex digits</AppSKey></AppSKeys> (or a bare \
                     32-hex key): {detail}"
                ),
            )
        };
        let mut rest = xml
            .trim()
            .strip_prefix("<AppSKeys>")
            .and_then(|r| r.strip_suffix("</AppSKeys>"))
            .ok_or_else(|| bad("it must start with <AppSKeys> and end with </AppSKeys>"))?;
        let mut keys = Vec::new();
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            let after = rest
                .strip_prefix("<AppSKey")
                .map(str::trim_start)
                .and_then(|r| r.strip_prefix("Port="))
                .ok_or_else(|| {
                    bad(&format!(
                        "element {} is not <AppSKey Port=…>",
                        keys.len() + 1
                    ))
                })?;
            let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
            let (port, after) = quote
                .and_then(|q| after[1..].split_once(q))
                .ok_or_else(|| bad("a Port attribute needs quotes"))?;
            let after = after
                .trim_start()
                .strip_prefix('>')
                .ok_or_else(|| bad(&format!("<AppSKey Port=\"{port}\"> is not closed by '>'")))?;
            let (key, after) = after
                .split_once("</AppSKey>")
                .ok_or_else(|| bad(&format!("the key of port {port} has no </AppSKey>")))?;
            if !valid_ports(port) {
                return Err(bad(&format!(
                    "Port \"{port}\" is not *, a port from 1 to 255, a list (1,2,3) or a range (10-20)"
                )));
            }
            let key = Key::parse(key).map_err(|e| {
                IdError::new(e.code, format!("AppSKey of port {port}: {}", e.message))
            })?;
            keys.push((port.trim().to_string(), key));
            rest = after;
        }
        if keys.is_empty() {
            return Err(bad("it holds no <AppSKey>"));
        }
        Ok(AppSKeys(keys))
    }

    /// The `appKeys` value of a request body, with the clear keys: for the request only.
    pub fn expose_xml(&self) -> String {
        let mut xml = String::from("<AppSKeys>");
        for (port, key) in &self.0 {
            xml.push_str(&format!(
                "<AppSKey Port=\"{port}\">{}</AppSKey>",
                key.expose()
            ));
        }
        xml.push_str("</AppSKeys>");
        xml
    }

    /// The port sets and their keys.
    pub fn keys(&self) -> &[(String, Key)] {
        &self.0
    }
}

/// The OpenAPI file's AppSKey `Port` forms (`appKeys`): `*`, a port, a list of ports, a range; "port 1 to 255".
fn valid_ports(spec: &str) -> bool {
    let port = |p: &str| p.trim().parse::<u8>().ok().filter(|&n| n >= 1);
    let spec = spec.trim();
    spec == "*"
        || spec.split(',').all(|part| match part.split_once('-') {
            Some((low, high)) => port(low).zip(port(high)).is_some_and(|(l, h)| l < h),
            None => port(part).is_some(),
        })
}

impl DevAddr {
    /// A DevAddr: 8 hex digits once normalised.
    pub fn parse(raw: &str) -> Result<DevAddr, IdError> {
        parse_hex(raw, "DevAddr", 8, false).map(DevAddr)
    }
}

impl Imei {
    /// An IMEI: 15 digits (`-` and spaces allowed in between) with a valid Luhn check digit.
    pub fn parse(raw: &str) -> Result<Imei, IdError> {
        let v = normalise_digits(raw);
        check_digits(&v, "IMEI")?;
        luhn_checked(v, "IMEI", 15..=15, "15").map(Imei)
    }

    /// The IMEI as a number, for compact duplicate detection: its 14-digit body, the check digit following from
    /// it, so that a shipment's run of consecutive IMEIs gives consecutive numbers (which keeps the table of those
    /// seen in cache order).
    pub fn to_u64(&self) -> u64 {
        self.0[..14].parse().expect("an Imei holds 15 digits")
    }
}

impl Iccid {
    /// An ICCID: 19 or 20 digits with a valid Luhn check digit, or an operator's 19 or 20 hex digits starting with
    /// `89` (`898604A62621C0303436`), whose letters leave nothing for a Luhn check.
    pub fn parse(raw: &str) -> Result<Iccid, IdError> {
        let v = normalise_digits(raw);
        if let Some(hex) = hex_iccid(&v) {
            return Ok(Iccid(hex));
        }
        refuse_hex_iccid(&v, "ICCID")?;
        check_digits(&v, "ICCID")?;
        Iccid::from_digits(v)
    }

    /// True for an ICCID with hex letters (accepted without a Luhn check).
    pub fn has_hex_letters(&self) -> bool {
        self.0.bytes().any(|b| b.is_ascii_alphabetic())
    }

    fn from_digits(v: String) -> Result<Iccid, IdError> {
        luhn_checked(v, "ICCID", 19..=20, "19 or 20").map(Iccid)
    }
}

impl Eid {
    /// An EID: 32 digits whose value modulo 97 is 1.
    pub fn parse(raw: &str) -> Result<Eid, IdError> {
        let v = normalise_digits(raw);
        check_digits(&v, "EID")?;
        Eid::from_digits(v)
    }

    fn from_digits(v: String) -> Result<Eid, IdError> {
        if v.len() != 32 {
            return Err(wrong_length(&v, "EID", "32"));
        }
        if mod97(&v) != 1 {
            return Err(IdError::new(
                ErrorCode::Checksum,
                format!("EID '{v}' fails its check digits (mod 97 is not 1; a digit is wrong)"),
            ));
        }
        Ok(Eid(v))
    }
}

impl Imsi {
    /// An IMSI: 6 to 15 digits.
    pub fn parse(raw: &str) -> Result<Imsi, IdError> {
        let v = normalise_digits(raw);
        check_digits(&v, "IMSI")?;
        if !(6..=15).contains(&v.len()) {
            return Err(wrong_length(&v, "IMSI", "6 to 15"));
        }
        Ok(Imsi(v))
    }
}

/// The duplicate key of a Luhn-valid digit ICCID starting with `89` (see [`SimId::telecom_iccid_u64`]).
pub fn telecom_iccid_key(iccid: &[u8]) -> Option<u64> {
    let body = iccid.strip_prefix(b"89")?.split_last()?.1;
    if !(16..=17).contains(&body.len()) {
        return None;
    }
    let mut n = 0u64;
    for &b in body {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n | (u64::from(body.len() == 17) << 63))
}

/// A value of hex digits with letters that [`hex_iccid`] did not take: say what a hex ICCID must be.
fn refuse_hex_iccid(v: &str, what: &str) -> Result<(), IdError> {
    if v.bytes().all(|b| b.is_ascii_hexdigit()) && v.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(IdError::new(
            ErrorCode::Invalid,
            format!(
                "{what} '{v}' holds hex letters: only an ICCID of 19 or 20 hex digits starting with 89 may (it \
                 has {} digits)",
                v.len()
            ),
        ));
    }
    Ok(())
}

/// A hex-lettered ICCID, upper-cased: 19 or 20 hex digits, at least one a letter, starting with `89` (the telecom
/// range every issued ICCID is in).
fn hex_iccid(v: &str) -> Option<String> {
    let upper = v.to_ascii_uppercase();
    ((19..=20).contains(&upper.len())
        && upper.starts_with("89")
        && upper.bytes().all(|b| b.is_ascii_hexdigit())
        && upper.bytes().any(|b| b.is_ascii_alphabetic()))
    .then_some(upper)
}

impl SimId {
    /// True for an ICCID with hex letters.
    pub fn has_hex_letters(&self) -> bool {
        matches!(self, SimId::Iccid(iccid) if iccid.has_hex_letters())
    }

    /// A SIM identifier: an ICCID for 19 or 20 digits (or an operator's hex ICCID), an EID for 32.
    pub fn parse(raw: &str) -> Result<SimId, IdError> {
        let v = normalise_digits(raw);
        if let Some(hex) = hex_iccid(&v) {
            return Ok(SimId::Iccid(Iccid(hex)));
        }
        refuse_hex_iccid(&v, "SIM identifier")?;
        check_digits(&v, "SIM identifier")?;
        match v.len() {
            19 | 20 => Iccid::from_digits(v).map(SimId::Iccid),
            32 => Eid::from_digits(v).map(SimId::Eid),
            n => Err(IdError::new(
                ErrorCode::Length,
                format!("SIM identifier '{v}' has {n} digits; an ICCID has 19 or 20, an EID 32"),
            )),
        }
    }

    /// An ICCID of the telecom range (`89…`) as a 64-bit number: the digits between `89` and the Luhn check digit
    /// (which follows from them), with bit 63 telling a 20-digit ICCID from a 19-digit one. `None` for an EID, a
    /// hex ICCID or any other ICCID.
    pub fn telecom_iccid_u64(&self) -> Option<u64> {
        match self {
            SimId::Iccid(iccid) => telecom_iccid_key(iccid.as_str().as_bytes()),
            SimId::Eid(_) => None,
        }
    }

    /// The identifier as a number tagged with its length, so that `0…` and `…` never collide; a hex ICCID is read
    /// in base 16 and tagged apart (20 hex digits take 80 bits, below the tags).
    pub fn to_u128(&self) -> u128 {
        let s = self.as_str();
        if self.has_hex_letters() {
            let n = u128::from_str_radix(s, 16).expect("a hex ICCID holds at most 20 hex digits");
            return n | ((s.len() as u128) << 112) | (1 << 120);
        }
        let n: u128 = s.parse().expect("a SimId holds at most 32 digits");
        n | ((s.len() as u128) << 112)
    }
}

/// A LoRa Alliance onboarding tag: the text of a TR005 QR code, `LW:D0:<JoinEUI>:<DevEUI>:<ProfileID>[:<ext>…]`.
///
/// Follows TR005 "LoRaWAN Device Identification QR Codes" as the LoRa Alliance published it in November 2020 (the
/// `LW:D0` form; its drafts 2 and 3 wrote `URN:LW:DP:` and `URN:DEV:LW:`, which no shipment uses). The profile ID is
/// the VendorID and the VendorProfileID, 4 hex digits each. Extensions are a letter and a value: `O` owner token,
/// `S` serial number, `P` proprietary, `C` checksum; other letters are kept out (later versions may add some). The
/// checksum is the CRC-16/MODBUS of the text before `:C`, in 4 hex digits, which the spec's own example
/// (`…:PFOOBAR:CAF2C`, also ThingPark's `readOnboardingTag` example) bears out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnboardingTag {
    pub join_eui: Eui,
    pub dev_eui: Eui,
    /// VendorID and VendorProfileID, 8 upper-case hex digits.
    pub profile_id: String,
    pub owner_token: Option<String>,
    pub serial_number: Option<String>,
    pub proprietary: Option<String>,
    /// Present only when the tag carries one, and then it matched.
    pub checksum: Option<String>,
}

/// True when a cell holds an onboarding tag rather than a bare identifier.
pub fn is_onboarding_tag(text: &str) -> bool {
    let t = text.trim_start();
    t.len() >= 6 && t[..6].eq_ignore_ascii_case("LW:D0:")
}

/// CRC-16/MODBUS (polynomial 0x8005 reflected, initial value 0xFFFF), TR005's checksum.
fn crc16_modbus(bytes: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

impl OnboardingTag {
    /// Parses a tag; the error names the part that is wrong.
    pub fn parse(raw: &str) -> Result<OnboardingTag, IdError> {
        let text = raw.trim();
        let bad = |message: String| {
            IdError::new(ErrorCode::Invalid, format!("onboarding tag: {message}"))
        };
        if !is_onboarding_tag(text) {
            return Err(bad("it does not start with LW:D0:".to_string()));
        }
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() < 5 {
            return Err(bad(format!(
                "it has {} parts; it needs at least LW:D0:<JoinEUI>:<DevEUI>:<ProfileID>",
                parts.len()
            )));
        }
        let eui = |part: &str, what: &str| {
            Eui::parse(part).map_err(|e| {
                bad(format!(
                    "the {what} part '{part}' is not an EUI ({})",
                    e.message
                ))
            })
        };
        let join_eui = eui(parts[2], "JoinEUI")?;
        let dev_eui = eui(parts[3], "DevEUI")?;
        let profile_id = parts[4].to_ascii_uppercase();
        if profile_id.len() != 8 || !profile_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!(
                "the ProfileID part '{}' must be 8 hex digits (VendorID and VendorProfileID)",
                parts[4]
            )));
        }
        let mut tag = OnboardingTag {
            join_eui,
            dev_eui,
            profile_id,
            owner_token: None,
            serial_number: None,
            proprietary: None,
            checksum: None,
        };
        // Offset of each extension in `text`, for the checksum's span.
        let mut offset = parts[..5].iter().map(|p| p.len() + 1).sum::<usize>();
        for ext in &parts[5..] {
            let start = offset;
            offset += ext.len() + 1;
            let mut chars = ext.chars();
            let Some(letter) = chars.next() else {
                continue;
            };
            let value = chars.as_str();
            if value.is_empty() {
                continue;
            }
            match letter.to_ascii_uppercase() {
                'O' => tag.owner_token = Some(value.to_string()),
                'S' => tag.serial_number = Some(value.to_string()),
                'P' => tag.proprietary = Some(value.to_string()),
                'C' => {
                    let expected = crc16_modbus(&text.as_bytes()[..start - 1]);
                    let given = u16::from_str_radix(value, 16)
                        .ok()
                        .filter(|_| value.len() == 4);
                    match given {
                        Some(given) if given == expected => {
                            tag.checksum = Some(value.to_ascii_uppercase())
                        }
                        Some(_) => {
                            return Err(IdError::new(
                                ErrorCode::Checksum,
                                format!(
                                    "onboarding tag: the checksum part 'C{value}' does not match the tag (it \
                                     should be C{expected:04X}); a character of the tag is wrong"
                                ),
                            ));
                        }
                        None => {
                            return Err(bad(format!(
                                "the checksum part 'C{value}' must be 4 hex digits"
                            )));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn app_s_keys_read_the_xml_form_and_a_bare_key() {
        let bare = AppSKeys::parse(" 8d67b0d6359d11acfc45ad4bb9ce2d4f ").unwrap();
        assert_eq!(
            bare.expose_xml(),
            "<AppSKeys><AppSKey Port=\"*\">8D67B0D6359D11ACFC45AD4BB9CE2D4F</AppSKey></AppSKeys>"
        );
        let xml = "<AppSKeys> <AppSKey Port=\"1-2\">00112233445566778899AABBCCDDEEFF</AppSKey>\n\
                   <AppSKey Port='3,5'>11112233445566778899aabbccddeeff</AppSKey></AppSKeys>";
        let keys = AppSKeys::parse(xml).unwrap();
        let ports: Vec<&str> = keys.keys().iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(ports, ["1-2", "3,5"]);
        assert_eq!(
            keys.expose_xml(),
            "<AppSKeys><AppSKey Port=\"1-2\">00112233445566778899AABBCCDDEEFF</AppSKey>\
             <AppSKey Port=\"3,5\">11112233445566778899AABBCCDDEEFF</AppSKey></AppSKeys>"
        );
        // Every key inside is checked, and no message shows one.
        let short =
            "<AppSKeys><AppSKey Port=\"*\">8D67B0D6359D11ACFC45AD4BB9CE2D4</AppSKey></AppSKeys>";
        let e = AppSKeys::parse(short).unwrap_err();
        assert_eq!(e.code, ErrorCode::Length);
        assert!(
            e.message.contains("port *") && !e.message.contains("8D67B0D6"),
            "{e}"
        );
        let second_bad = "<AppSKeys><AppSKey Port=\"1\">00112233445566778899AABBCCDDEEFF</AppSKey>\
                          <AppSKey Port=\"2\">0011223344556677889XAABBCCDDEEFF</AppSKey></AppSKeys>";
        let e = AppSKeys::parse(second_bad).unwrap_err();
        assert_eq!(e.code, ErrorCode::Hex);
        assert!(!e.message.contains("00112233"), "{e}");
        for bad in [
            "<AppSKeys></AppSKeys>",
            "<AppSKeys><AppSKey Port=\"0\">00112233445566778899AABBCCDDEEFF</AppSKey></AppSKeys>",
            "<AppSKeys><AppSKey Port=\"20-10\">00112233445566778899AABBCCDDEEFF</AppSKey></AppSKeys>",
            "<AppSKeys><AppSKey>00112233445566778899AABBCCDDEEFF</AppSKey></AppSKeys>",
            "<AppSKey Port=\"*\">00112233445566778899AABBCCDDEEFF</AppSKey>",
        ] {
            let e = AppSKeys::parse(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::Invalid, "{bad}");
            assert!(!e.message.contains("00112233"), "{e}");
        }
        assert!(AppSKeys::from_xml("00112233445566778899AABBCCDDEEFF").is_err());
    }

    #[test]
    fn imei_luhn() {
        assert_eq!(
            Imei::parse("490154203237518").unwrap().as_str(),
            "490154203237518"
        );
        assert_eq!(
            Imei::parse("490154203237517").unwrap_err().code,
            ErrorCode::Luhn
        );
        assert!(Imei::parse("123456789012347").is_ok());
        assert_eq!(
            Imei::parse("49-015420-323751-8").unwrap().as_str(),
            "490154203237518"
        );
        assert_eq!(
            Imei::parse(" 49015420323751 ").unwrap_err().code,
            ErrorCode::Length
        );
        assert_eq!(
            Imei::parse("49015420323751X").unwrap_err().code,
            ErrorCode::Invalid
        );
    }

    #[test]
    fn iccid_luhn_and_length() {
        assert!(Iccid::parse("89208013535718672291").is_ok());
        // The same ICCID after Excel rounded it to 15 significant digits.
        assert_eq!(
            Iccid::parse("89208013535718700000").unwrap_err().code,
            ErrorCode::Luhn
        );
        assert_eq!(
            Iccid::parse("8920801353571867229").unwrap_err().code,
            ErrorCode::Luhn
        );
        assert_eq!(
            Iccid::parse("892080135357186722").unwrap_err().code,
            ErrorCode::Length
        );
    }

    #[test]
    fn hex_lettered_iccids_are_accepted_without_luhn() {
        let iccid = Iccid::parse("898604a62621c0303436").unwrap();
        assert_eq!(iccid.as_str(), "898604A62621C0303436");
        assert!(iccid.has_hex_letters());
        let sim = SimId::parse("898604A62621C0303436").unwrap();
        assert!(sim.has_hex_letters());
        assert_ne!(
            sim.to_u128(),
            SimId::parse("89860462621030343").map_or(0, |s| s.to_u128())
        );
        // Not the telecom range, too short, or letters beyond F: still refused.
        assert!(Iccid::parse("998604A62621C0303436").is_err());
        assert!(Iccid::parse("898604A62621C03034").is_err());
        assert!(Iccid::parse("898604G62621C0303436").is_err());
        // Digits only: the Luhn check still applies.
        assert_eq!(
            Iccid::parse("89208013535718672290").unwrap_err().code,
            ErrorCode::Luhn
        );
    }

    #[test]
    fn eid_mod97() {
        let good = "89049032123451234512345678901235";
        assert_eq!(mod97(good), 1);
        assert_eq!(Eid::parse(good).unwrap().as_str(), good);
        let bad = "89049032123451234512345678901234";
        assert_eq!(Eid::parse(bad).unwrap_err().code, ErrorCode::Checksum);
        assert_eq!(
            Eid::parse("8904903212345123451234567890123")
                .unwrap_err()
                .code,
            ErrorCode::Length
        );
    }

    #[test]
    fn sim_id_chooses_by_length() {
        assert!(matches!(
            SimId::parse("89208013535718672291"),
            Ok(SimId::Iccid(_))
        ));
        assert!(matches!(
            SimId::parse("89049032123451234512345678901235"),
            Ok(SimId::Eid(_))
        ));
        assert_eq!(
            SimId::parse("1234567890").unwrap_err().code,
            ErrorCode::Length
        );
    }

    #[test]
    fn sim_numbers_tell_lengths_apart() {
        let long = SimId::parse("89208013535718672291").unwrap();
        let short = SimId::parse("8902080135357186721").unwrap();
        assert_ne!(long.telecom_iccid_u64(), short.telecom_iccid_u64());
        assert!(long.telecom_iccid_u64().is_some());
        let other = SimId::parse("1234567890123456785").unwrap();
        assert_eq!(other.telecom_iccid_u64(), None);
        let eid = SimId::parse("89049032123451234512345678901235").unwrap();
        assert_eq!(eid.telecom_iccid_u64(), None);
        assert_ne!(eid.to_u128(), long.to_u128());
    }

    #[test]
    fn eui_normalises_then_checks() {
        assert_eq!(
            Eui::parse(" 0x70-b3-d5:e7 5600 0001 ").unwrap().as_str(),
            "70B3D5E756000001"
        );
        assert_eq!(
            Eui::parse("70B3D5E75600000G").unwrap_err().code,
            ErrorCode::Hex
        );
        assert_eq!(
            Eui::parse("70B3D5E7560000").unwrap_err().code,
            ErrorCode::Length
        );
        assert_eq!(Eui::parse("  ").unwrap_err().code, ErrorCode::Missing);
        assert_eq!(
            Eui::parse("70B3D5E756000001").unwrap().to_u64(),
            0x70B3_D5E7_5600_0001
        );
    }

    #[test]
    fn key_errors_never_show_the_key() {
        let raw = "7374757A3FDD092947CE2DE9321C604";
        let err = Key::parse(raw).unwrap_err();
        assert_eq!(err.code, ErrorCode::Length);
        assert!(!err.message.contains("7374757A"), "{}", err.message);
        let err = Key::parse("7374757A3FDD092947CE2DE9321C60Z0").unwrap_err();
        assert_eq!(err.code, ErrorCode::Hex);
        assert!(!err.message.contains("7374757A"), "{}", err.message);
        let key = Key::parse("7374757a3fdd092947ce2de9321c6040").unwrap();
        assert_eq!(key.expose(), "7374757A3FDD092947CE2DE9321C6040");
        assert!(!format!("{key:?}").contains("7374757A"));
    }

    #[test]
    fn dev_addr_and_imsi() {
        assert_eq!(DevAddr::parse("0x01abcdef").unwrap().as_str(), "01ABCDEF");
        assert_eq!(
            DevAddr::parse("01ABCDE").unwrap_err().code,
            ErrorCode::Length
        );
        assert!(Imsi::parse("242017100000228").is_ok());
        assert_eq!(Imsi::parse("12345").unwrap_err().code, ErrorCode::Length);
        assert_eq!(
            Imsi::parse("2420171000002281").unwrap_err().code,
            ErrorCode::Length
        );
    }

    fn digits(n: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(0u8..10, n)
            .prop_map(|v| v.into_iter().map(|d| char::from(b'0' + d)).collect())
    }

    fn with_luhn(payload: String) -> String {
        let d = luhn_check_digit(&payload);
        format!("{payload}{d}")
    }

    fn with_eid_check(payload: String) -> String {
        let check = 98 - mod97(&format!("{payload}00"));
        format!("{payload}{check:02}")
    }

    /// Writes a value the way a person might: separators every few characters, padding, maybe `0x` and lower case.
    fn scrambled(value: &str, hex: bool) -> impl Strategy<Value = String> + use<> {
        let value = value.to_string();
        (
            0usize..4,
            1usize..6,
            any::<bool>(),
            any::<bool>(),
            " {0,2}",
            " {0,2}",
        )
            .prop_map(move |(sep, every, prefix, lower, lead, trail)| {
                let sep = ["", "-", ":", " "][sep];
                let mut body = String::new();
                for (i, c) in value.chars().enumerate() {
                    if i > 0 && i % every == 0 {
                        body.push_str(sep);
                    }
                    body.push(if lower && hex {
                        c.to_ascii_lowercase()
                    } else {
                        c
                    });
                }
                let prefix = if prefix && hex { "0x" } else { "" };
                format!("{lead}{prefix}{body}{trail}")
            })
    }

    proptest! {
        #[test]
        fn eui_round_trips(w in any::<u64>().prop_flat_map(|n| scrambled(&format!("{n:016X}"), true).prop_map(move |s| (n, s)))) {
            let (n, written) = w;
            let eui = Eui::parse(&written).unwrap();
            prop_assert_eq!(eui.as_str().to_string(), format!("{n:016X}"));
            prop_assert_eq!(eui.to_u64(), n);
        }

        #[test]
        fn key_round_trips(w in any::<u128>().prop_flat_map(|k| scrambled(&format!("{k:032X}"), true).prop_map(move |s| (k, s)))) {
            let (k, written) = w;
            prop_assert_eq!(Key::parse(&written).unwrap().expose().to_string(), format!("{k:032X}"));
        }

        #[test]
        fn dev_addr_round_trips(w in any::<u32>().prop_flat_map(|a| scrambled(&format!("{a:08X}"), true).prop_map(move |s| (a, s)))) {
            let (a, written) = w;
            prop_assert_eq!(DevAddr::parse(&written).unwrap().as_str().to_string(), format!("{a:08X}"));
        }

        #[test]
        fn imei_round_trips(w in digits(14).prop_map(with_luhn).prop_flat_map(|v| scrambled(&v, false).prop_map(move |s| (v.clone(), s)))) {
            let (canonical, written) = w;
            let imei = Imei::parse(&written).unwrap();
            prop_assert_eq!(imei.as_str(), canonical.as_str());
            // The duplicate key is the body: the check digit follows from it.
            prop_assert_eq!(imei.to_u64(), canonical[..14].parse::<u64>().unwrap());
        }

        #[test]
        fn iccid_round_trips(w in (18usize..20).prop_flat_map(digits).prop_map(with_luhn).prop_flat_map(|v| scrambled(&v, false).prop_map(move |s| (v.clone(), s)))) {
            let (canonical, written) = w;
            prop_assert_eq!(Iccid::parse(&written).unwrap().as_str().to_string(), canonical.as_str());
            prop_assert_eq!(SimId::parse(&written).unwrap(), SimId::Iccid(Iccid(canonical)));
        }

        #[test]
        fn eid_round_trips(w in digits(30).prop_map(with_eid_check).prop_flat_map(|v| scrambled(&v, false).prop_map(move |s| (v.clone(), s)))) {
            let (canonical, written) = w;
            prop_assert_eq!(Eid::parse(&written).unwrap().as_str().to_string(), canonical.as_str());
            prop_assert_eq!(SimId::parse(&written).unwrap(), SimId::Eid(Eid(canonical)));
        }

        #[test]
        fn imsi_round_trips(w in (6usize..16).prop_flat_map(digits).prop_flat_map(|v| scrambled(&v, false).prop_map(move |s| (v.clone(), s)))) {
            let (canonical, written) = w;
            prop_assert_eq!(Imsi::parse(&written).unwrap().as_str().to_string(), canonical.as_str());
        }

        #[test]
        fn one_wrong_imei_digit_fails_luhn(v in digits(14).prop_map(with_luhn), pos in 0usize..15, delta in 1u8..10) {
            let mut bytes = v.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(Imei::parse(&changed).unwrap_err().code, ErrorCode::Luhn);
        }
    }
}

#[cfg(test)]
mod onboarding_tag_tests {
    use super::*;

    /// TR005's own example, as ThingPark's OpenAPI file quotes it for `readOnboardingTag`.
    const SPEC_EXAMPLE: &str =
        "LW:D0:1122334455667788:AABBCCDDEEFF0011:AABB1122:OAABBCCDDEEFF:SYYWWNNNNNN:PFOOBAR:CAF2C";

    #[test]
    fn the_spec_example_parses_and_its_checksum_holds() {
        let tag = OnboardingTag::parse(SPEC_EXAMPLE).unwrap();
        assert_eq!(tag.join_eui.as_str(), "1122334455667788");
        assert_eq!(tag.dev_eui.as_str(), "AABBCCDDEEFF0011");
        assert_eq!(tag.profile_id, "AABB1122");
        assert_eq!(tag.owner_token.as_deref(), Some("AABBCCDDEEFF"));
        assert_eq!(tag.serial_number.as_deref(), Some("YYWWNNNNNN"));
        assert_eq!(tag.proprietary.as_deref(), Some("FOOBAR"));
        assert_eq!(tag.checksum.as_deref(), Some("AF2C"));
        let wrong = SPEC_EXAMPLE.replace("FOOBAR", "FOOBAZ");
        assert_eq!(
            OnboardingTag::parse(&wrong).unwrap_err().code,
            ErrorCode::Checksum
        );
    }

    #[test]
    fn the_things_stack_vectors() {
        // The decoding cases of The Things Stack's TR005 tests (pkg/qrcodegenerator/qrcode/enddevices), whose
        // checksum part is free text there, so it is left out here.
        let tag = OnboardingTag::parse("LW:D0:42FFFFFFFFFFFFFF:4242FFFFFFFFFFFF:42FFFF42").unwrap();
        assert_eq!(tag.join_eui.as_str(), "42FFFFFFFFFFFFFF");
        assert_eq!(tag.dev_eui.as_str(), "4242FFFFFFFFFFFF");
        assert_eq!(tag.profile_id, "42FFFF42");
        let tag = OnboardingTag::parse(
            "LW:D0:42FFFFFFFFFFFFFF:4242FFFFFFFFFFFF:42FFFF42:O0102:SSERIAL:PPROPRIETARY",
        )
        .unwrap();
        assert_eq!(tag.owner_token.as_deref(), Some("0102"));
        assert_eq!(tag.serial_number.as_deref(), Some("SERIAL"));
        assert_eq!(tag.proprietary.as_deref(), Some("PROPRIETARY"));
        let empty =
            OnboardingTag::parse("LW:D0:42FFFFFFFFFFFFFF:4242FFFFFFFFFFFF:42FFFF42:O:S:P").unwrap();
        assert_eq!((empty.owner_token, empty.serial_number), (None, None));
        for (bad, part) in [
            ("LW:D0:42FFFFFFFFFFFFFF:4242FFFFFFFFFFFF", "parts"),
            ("LW:D0:42FFFFFFFF:4242FFFFFFFFFFFF:42FFFF42", "JoinEUI"),
            ("LW:D0:42FFFFFFFFFFFFFF:4242FFFFFFFFFFFG:42FFFF42", "DevEUI"),
            (
                "LW:D0:42FFFFFFFFFFFFFF:4242FFFFFFFFFFFF:42FFFF42AABB",
                "ProfileID",
            ),
            (
                "LW:D0:42FFFFFFFFFFFFFF:4242FFFFFFFFFFFF:42FFFF42:CXYZ",
                "checksum",
            ),
        ] {
            let e = OnboardingTag::parse(bad).unwrap_err();
            assert!(e.message.contains(part), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn a_tag_is_told_from_an_identifier() {
        assert!(is_onboarding_tag(
            " lw:d0:1122334455667788:AABBCCDDEEFF0011:AABB1122"
        ));
        assert!(!is_onboarding_tag("70B3D5E75F600001"));
        assert!(!is_onboarding_tag(
            "URN:DEV:LW:42FFFFFFFFFFFFFF_4242FFFFFFFFFFFF_42FFFF42"
        ));
    }
}
