//! Fuzz target: every identifier parser (EUI, key, DevAddr, IMEI, ICCID, EID, SIM id, IMSI) on any text. Whatever
//! parses must be canonical: parsing its own text again gives the same value.
#![no_main]

use tpbulk::device::{DevAddr, Eid, Eui, Iccid, Imei, Imsi, Key, SimId};

macro_rules! round_trip {
    ($ty:ty, $text:expr, $show:ident) => {
        if let Ok(value) = <$ty>::parse($text) {
            let again = <$ty>::parse(value.$show()).expect("a parsed value parses again");
            assert_eq!(value.$show(), again.$show());
        }
    };
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    round_trip!(Eui, &text, as_str);
    round_trip!(Key, &text, expose);
    round_trip!(DevAddr, &text, as_str);
    round_trip!(Imei, &text, as_str);
    round_trip!(Iccid, &text, as_str);
    round_trip!(Eid, &text, as_str);
    round_trip!(Imsi, &text, as_str);
    round_trip!(SimId, &text, as_str);
    // The numeric forms the duplicate table uses `expect` on what the parser let through.
    if let Ok(eui) = Eui::parse(&text) {
        let _ = eui.to_u64();
    }
    if let Ok(imei) = Imei::parse(&text) {
        let _ = imei.to_u64();
    }
    if let Ok(sim) = SimId::parse(&text) {
        let _ = sim.to_u128();
    }
    let _ = tpbulk::device::ids::normalise(&text);
    let _ = tpbulk::device::parse_kind(&text);
});
