//! Which devices of a batch the platform already has, learned with as few requests as the case allows, so that the
//! platform's rate goes to creations: the batch's DevEUIs are covered by a few prefixes and asked for with the
//! `devEUI` filter of `GET /devices` (prefix match, repeatable), tightened where the first page's `count` shows
//! the platform holding many other devices under them, and replaced by a listing of the whole subscription only
//! when that is cheaper. Cellular devices, whose EUIs the platform assigns, are found by listing the cellular
//! devices (`connectivity=CELLULAR`): the API has no filter by IMEI or SIM.
//!
//! [`Lister`] reads cursor pages and adopts the page size the platform gives when it gives less than asked.

use super::client::DeviceFilter;
use super::{ApiError, Client, DeviceInfo, DevicePage, ExistKey};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Devices per listing page asked for; the platform may give fewer (see [`Lister`]).
pub const LIST_PAGE_SIZE: u32 = 1000;
/// `devEUI` filters in one request: about 1.3 KB of query, well under what servers and proxies accept.
pub const PREFIXES_PER_REQUEST: usize = 50;
/// A prefix of the first cover may span up to this many EUI values per batch device under it: a contiguous
/// shipment is then a handful of prefixes, and even a platform that holds every value around the batch matches
/// at most this many devices per batch device.
const LOOSE_SPAN: u128 = 4;
/// Above this many prefix requests the subscription's size is asked first (one page): listing it may be cheaper.
const PROBE_ABOVE: usize = 4;
/// How often the look-up progress prints a line when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(2);

/// The fewest prefixes covering every EUI of `euis` such that no prefix spans more than `span_per_device` EUI
/// values per EUI of `euis` under it: with 1, every value a prefix spans is one of `euis` (so whatever it matches
/// is one of them); with more, fewer and shorter prefixes. Sorted; every EUI starts with exactly one of them.
///
/// A hand-written trie walk: no crate computes prefix covers, and it is a few lines over the sorted EUIs.
pub fn prefix_cover(euis: &[&str], span_per_device: u128) -> Vec<String> {
    let mut sorted: Vec<String> = euis.iter().map(|e| e.to_ascii_uppercase()).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let sorted: Vec<&str> = sorted.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    if !sorted.is_empty() {
        cover_into(&sorted, 0, span_per_device.max(1), &mut out);
    }
    out
}

/// Covers `euis` (sorted, sharing their first `depth` characters).
fn cover_into(euis: &[&str], depth: usize, span_per_device: u128, out: &mut Vec<String>) {
    let prefix = &euis[0][..depth];
    // EUI values a prefix of this length spans, for 16-digit EUIs.
    let span = 16u128.pow(16usize.saturating_sub(depth) as u32);
    let here = euis.len() as u128;
    // An EUI that ends here (shorter than 16 digits) can only be covered by this prefix.
    if (depth > 0 && span <= span_per_device.saturating_mul(here)) || euis[0].len() <= depth {
        out.push(prefix.to_string());
        return;
    }
    let mut start = 0;
    while start < euis.len() {
        let digit = euis[start].as_bytes()[depth];
        let end = start
            + euis[start..]
                .iter()
                .take_while(|e| e.as_bytes()[depth] == digit)
                .count();
        cover_into(&euis[start..end], depth + 1, span_per_device, out);
        start = end;
    }
}

/// Reads cursor pages of `GET /devices` (`sort=EUI,asc`). The platform's largest page is unpublished: when a page
/// comes back shorter than asked while `more` is true, the size it gave is asked from then on, so that the
/// requests a listing will take are counted right.
#[derive(Debug)]
pub struct Lister<'a> {
    client: &'a Client,
    size: u32,
}

impl<'a> Lister<'a> {
    pub fn new(client: &'a Client, page_size: u32) -> Lister<'a> {
        Lister {
            client,
            size: page_size.max(1),
        }
    }

    /// The page size asked for now.
    pub fn page_size(&self) -> u32 {
        self.size
    }

    /// One page of the devices `filter` keeps.
    pub async fn page(
        &mut self,
        filter: &DeviceFilter,
        after: Option<&str>,
    ) -> Result<DevicePage, ApiError> {
        let page = self
            .client
            .list_devices_matching(filter, self.size, after)
            .await?;
        let got = page.devices.len() as u32;
        if page.more && got > 0 && got < self.size {
            tracing::info!(
                asked = self.size,
                got,
                "the platform gives shorter pages than asked; asking that size from now on"
            );
            self.size = got;
        }
        Ok(page)
    }

    /// Hands `first` and each following page to `visit` until the listing ends or `visit` says stop (`false`).
    pub async fn follow(
        &mut self,
        filter: &DeviceFilter,
        first: DevicePage,
        mut visit: impl FnMut(&[DeviceInfo]) -> bool,
    ) -> Result<(), ApiError> {
        let mut page = first;
        let mut cursor: Option<String> = None;
        loop {
            if !visit(&page.devices) {
                return Ok(());
            }
            match page.cursor {
                // A platform that repeats its cursor would loop forever.
                Some(next) if page.more && cursor.as_deref() != Some(next.as_str()) => {
                    page = self.page(filter, Some(&next)).await?;
                    cursor = Some(next);
                }
                _ => return Ok(()),
            }
        }
    }

    /// Every page of the devices `filter` keeps, each handed to `visit` (which may stop the listing).
    pub async fn each(
        &mut self,
        filter: &DeviceFilter,
        visit: impl FnMut(&[DeviceInfo]) -> bool,
    ) -> Result<(), ApiError> {
        let first = self.page(filter, None).await?;
        self.follow(filter, first, visit).await
    }
}

/// Which of `keys` the platform already has (see the module doc for how it is asked), showing `progress`.
pub async fn find_existing(
    client: &Client,
    keys: &[ExistKey],
    progress: &LookupProgress,
) -> Result<HashMap<ExistKey, DeviceInfo>, ApiError> {
    let found = find_matching(client, keys, progress).await?;
    Ok(found
        .into_iter()
        .filter_map(|(key, mut devices)| Some((key, devices.pop()?)))
        .collect())
}

/// Like [`find_existing`], with every distinct device each key matches: a deletion must know when a name matches
/// several devices (an IMEI on one, a SIM on another), and then delete none of them.
pub async fn find_matching(
    client: &Client,
    keys: &[ExistKey],
    progress: &LookupProgress,
) -> Result<HashMap<ExistKey, Vec<DeviceInfo>>, ApiError> {
    let wanted: HashSet<&ExistKey> = keys.iter().collect();
    let mut found: HashMap<ExistKey, Vec<DeviceInfo>> = HashMap::new();
    if wanted.is_empty() {
        return Ok(found);
    }
    progress.start(wanted.len() as u64, client);
    let mut euis: Vec<&str> = wanted
        .iter()
        .filter_map(|k| match k {
            ExistKey::Eui(e) => Some(e.as_str()),
            ExistKey::Sim(_) | ExistKey::Imei(_) => None,
        })
        .collect();
    euis.sort_unstable();
    let cellular = (wanted.len() - euis.len()) as u64;
    let mut lister = Lister::new(client, LIST_PAGE_SIZE);
    // Keeps what `devices` holds of the wanted keys; `true`: a listing goes on.
    let collect = |devices: &[DeviceInfo], found: &mut HashMap<ExistKey, Vec<DeviceInfo>>| {
        for device in devices {
            for key in keys_of(device) {
                if wanted.contains(&key) {
                    // A device seen twice (on two overlapping pages or listings) is still one device.
                    let same = found.entry(key).or_default();
                    if !same.iter().any(|d| same_device(d, device)) {
                        same.push(device.clone());
                    }
                }
            }
        }
        true
    };
    if cellular > 0 {
        let filter = DeviceFilter {
            connectivity: Some("CELLULAR"),
            ..DeviceFilter::default()
        };
        tracing::debug!(
            rows = cellular,
            "finding cellular devices by listing the cellular devices"
        );
        lister
            .each(&filter, |devices| collect(devices, &mut found))
            .await?;
        progress.advance(cellular);
    }
    if euis.is_empty() {
        progress.finish(found.len() as u64, client);
        return Ok(found);
    }
    let cover = prefix_cover(&euis, LOOSE_SPAN);
    let groups = groups(&euis, &cover);
    if groups.len() > PROBE_ABOVE {
        // Many prefix requests (a scattered batch): one page of the whole subscription says whether listing it
        // all would be cheaper.
        let all = DeviceFilter::default();
        let first = lister.page(&all, None).await?;
        let listing = first
            .count
            .map(|c| c.div_ceil(u64::from(lister.page_size())));
        if listing.is_some_and(|pages| pages <= groups.len() as u64) || !first.more {
            tracing::debug!(
                ?listing,
                "finding existing devices by listing the subscription"
            );
            let total = first.count.unwrap_or(0).max(1);
            let (mut read, mut shown) = (0u64, 0u64);
            lister
                .follow(&all, first, |devices| {
                    collect(devices, &mut found);
                    read += devices.len() as u64;
                    let now = (euis.len() as u64 * read / total).min(euis.len() as u64);
                    progress.advance(now - shown);
                    shown = now;
                    true
                })
                .await?;
            progress.advance(euis.len() as u64 - shown);
            progress.finish(found.len() as u64, client);
            return Ok(found);
        }
        // The probe's page may hold batch devices; they count like any others.
        collect(&first.devices, &mut found);
    }
    tracing::debug!(
        prefixes = cover.len(),
        requests = groups.len(),
        "finding existing devices by DevEUI prefix"
    );
    for (prefixes, group_euis) in groups {
        let filter = DeviceFilter {
            eui_prefixes: prefixes,
            ..DeviceFilter::default()
        };
        let first = lister.page(&filter, None).await?;
        let matches = first.count.unwrap_or(u64::MAX);
        let pages_left = matches
            .div_ceil(u64::from(lister.page_size()))
            .saturating_sub(1);
        let tight = prefix_cover(group_euis, 1);
        let tight_requests = tight.len().div_ceil(PREFIXES_PER_REQUEST) as u64;
        // The prefixes match many devices that are not the batch's: prefixes that span only batch EUIs match at
        // most the batch's devices that exist, in fewer requests than paging on.
        if first.more && matches > group_euis.len() as u64 && pages_left > tight_requests {
            tracing::debug!(
                matches,
                devices = group_euis.len(),
                prefixes = tight.len(),
                "the prefixes match many other devices; asking tighter ones"
            );
            collect(&first.devices, &mut found);
            for chunk in tight.chunks(PREFIXES_PER_REQUEST) {
                let filter = DeviceFilter {
                    eui_prefixes: chunk.to_vec(),
                    ..DeviceFilter::default()
                };
                lister
                    .each(&filter, |devices| collect(devices, &mut found))
                    .await?;
            }
        } else {
            lister
                .follow(&filter, first, |devices| collect(devices, &mut found))
                .await?;
        }
        progress.advance(group_euis.len() as u64);
    }
    progress.finish(found.len() as u64, client);
    Ok(found)
}

/// The cover's prefixes in requests of at most [`PREFIXES_PER_REQUEST`], each with the EUIs it covers (`euis`
/// and `cover` sorted, as [`prefix_cover`] leaves them).
fn groups<'e>(euis: &'e [&'e str], cover: &[String]) -> Vec<(Vec<String>, &'e [&'e str])> {
    let mut out = Vec::with_capacity(cover.len().div_ceil(PREFIXES_PER_REQUEST));
    let mut start = 0;
    for chunk in cover.chunks(PREFIXES_PER_REQUEST) {
        let last = chunk.last().expect("chunks are never empty");
        let mut end = start;
        while end < euis.len()
            && (euis[end].starts_with(last.as_str()) || euis[end] < last.as_str())
        {
            end += 1;
        }
        out.push((chunk.to_vec(), &euis[start..end]));
        start = end;
    }
    out
}

/// One device of the platform, whichever listing gave it: the same reference, else the same EUI.
pub fn same_device(a: &DeviceInfo, b: &DeviceInfo) -> bool {
    match (&a.uid, &b.uid) {
        (Some(x), Some(y)) => x == y,
        _ => !a.eui.is_empty() && a.eui == b.eui,
    }
}

/// Every key a device can be wanted under: its EUI, its SIM and its IMEI.
fn keys_of(device: &DeviceInfo) -> impl Iterator<Item = ExistKey> {
    [
        (!device.eui.is_empty()).then(|| ExistKey::Eui(device.eui.clone())),
        device.sim.clone().map(ExistKey::Sim),
        device.imei.clone().map(ExistKey::Imei),
    ]
    .into_iter()
    .flatten()
}

/// What a command shows while it learns which devices exist: a bar on a terminal, a plain line every few seconds
/// when stderr is not one, nothing when quiet.
pub struct LookupProgress {
    display: crate::logging::Display,
    state: Mutex<Shown>,
}

#[derive(Default)]
struct Shown {
    bar: Option<(ProgressBar, crate::logging::Lifted)>,
    total: u64,
    done: u64,
    last_line: Option<Instant>,
    /// The client's look-ups when this search started: the search's own are counted from there.
    look_ups_before: u64,
}

impl LookupProgress {
    pub fn new(display: &crate::logging::Display) -> LookupProgress {
        LookupProgress {
            display: display.clone(),
            state: Mutex::default(),
        }
    }

    /// What is shown, `None` when quiet.
    fn shown(&self) -> Option<MutexGuard<'_, Shown>> {
        (!self.display.quiet).then(|| self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn start(&self, total: u64, client: &Client) {
        let Some(mut shown) = self.shown() else {
            return;
        };
        *shown = Shown {
            total,
            look_ups_before: client.request_counts().lookups,
            ..Shown::default()
        };
        if std::io::stderr().is_terminal() {
            let bar =
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(
                ProgressStyle::with_template(
                    "learning which devices exist {bar:30.cyan/blue} {pos}/{len} checked",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let lifted = self.display.screen.show(&bar);
            bar.tick();
            shown.bar = Some((bar, lifted));
        } else {
            eprintln!("tpbulk: learning which devices exist: 0 of {total} checked");
            shown.last_line = Some(Instant::now());
        }
    }

    fn advance(&self, n: u64) {
        let Some(mut shown) = self.shown().filter(|_| n > 0) else {
            return;
        };
        shown.done = (shown.done + n).min(shown.total);
        if let Some((bar, _)) = &shown.bar {
            bar.set_position(shown.done);
        } else if shown.last_line.is_none_or(|t| t.elapsed() >= LINE_EVERY) {
            eprintln!(
                "tpbulk: learning which devices exist: {} of {} checked",
                shown.done, shown.total
            );
            shown.last_line = Some(Instant::now());
        }
    }

    fn finish(&self, found: u64, client: &Client) {
        let Some(mut shown) = self.shown() else {
            return;
        };
        if let Some((bar, lifted)) = shown.bar.take() {
            drop(lifted);
            bar.finish_and_clear();
        }
        let requests = client.request_counts().lookups - shown.look_ups_before;
        eprintln!(
            "tpbulk: {} devices checked in {requests} request{}, {found} on the platform",
            shown.total,
            if requests == 1 { "" } else { "s" }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many prefixes of `cover` (sorted) `eui` starts with.
    fn covered(cover: &[String], eui: &str) -> usize {
        (0..=eui.len())
            .filter(|&len| {
                cover
                    .binary_search_by(|p| p.as_str().cmp(&eui[..len]))
                    .is_ok()
            })
            .count()
    }

    /// How many of `sorted` start with `prefix`.
    fn under(sorted: &[String], prefix: &str) -> usize {
        let start = sorted.partition_point(|e| e.as_str() < prefix);
        sorted[start..]
            .iter()
            .take_while(|e| e.starts_with(prefix))
            .count()
    }

    fn span(prefix: &str) -> u128 {
        16u128.pow(16 - prefix.len() as u32)
    }

    #[test]
    fn a_contiguous_range_is_a_handful_of_prefixes() {
        let euis: Vec<String> = (0..5000u64)
            .map(|i| format!("{:016X}", 0x70B3_D5E7_5600_0000 + i))
            .collect();
        let refs: Vec<&str> = euis.iter().map(String::as_str).collect();
        let cover = prefix_cover(&refs, LOOSE_SPAN);
        // 0x000–0xFFF in one prefix, 0x1000–0x1387 in four.
        assert_eq!(
            cover,
            [
                "70B3D5E756000",
                "70B3D5E7560010",
                "70B3D5E7560011",
                "70B3D5E7560012",
                "70B3D5E7560013"
            ]
        );
        // Spanning only the batch: nothing else can match.
        let tight = prefix_cover(&refs, 1);
        assert!(tight.len() <= 20, "{tight:?}");
        assert_eq!(tight.iter().map(|p| span(p)).sum::<u128>(), 5000);
        // Not aligned on a boundary.
        let euis: Vec<String> = (0..5000u64)
            .map(|i| format!("{:016X}", 0x70B3_D5E7_5600_0A37 + i))
            .collect();
        let refs: Vec<&str> = euis.iter().map(String::as_str).collect();
        let cover = prefix_cover(&refs, LOOSE_SPAN);
        assert!(cover.len() <= 10, "{cover:?}");
        assert!(cover.iter().map(|p| span(p)).sum::<u128>() <= 4 * 5000);
    }

    #[test]
    fn a_single_device_is_its_own_eui() {
        assert_eq!(
            prefix_cover(&["70b3d5e756000001"], LOOSE_SPAN),
            ["70B3D5E756000001"]
        );
        assert!(prefix_cover(&[], LOOSE_SPAN).is_empty());
        // Twice the same EUI is one device.
        assert_eq!(
            prefix_cover(&["70B3D5E756000001", "70B3D5E756000001"], 1),
            ["70B3D5E756000001"]
        );
    }

    #[test]
    fn scattered_euis_get_a_prefix_each() {
        let euis = ["0004A30B001C0530", "70B3D5E756000001", "A81758FFFE030000"];
        assert_eq!(prefix_cover(&euis, LOOSE_SPAN), euis);
        // Four devices of a 16-value block are one prefix; three are not.
        let block = [
            "70B3D5E756000010",
            "70B3D5E756000013",
            "70B3D5E75600001A",
            "70B3D5E75600001F",
        ];
        assert_eq!(prefix_cover(&block, LOOSE_SPAN), ["70B3D5E75600001"]);
        assert_eq!(prefix_cover(&block[..3], LOOSE_SPAN).len(), 3);
    }

    #[test]
    fn the_cover_never_misses_an_eui_of_100000_random_ones() {
        // A seeded xorshift: the same EUIs each run, spread over the whole space and clustered in places.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut euis: Vec<String> = Vec::with_capacity(100_000);
        for i in 0..100_000u64 {
            let value = if i % 3 == 0 {
                // Clusters: runs within a small block.
                0x70B3_D5E7_5600_0000 + (next() % 60_000)
            } else {
                next()
            };
            euis.push(format!("{value:016X}"));
        }
        let refs: Vec<&str> = euis.iter().map(String::as_str).collect();
        for span_per_device in [1, LOOSE_SPAN] {
            let cover = prefix_cover(&refs, span_per_device);
            assert!(cover.windows(2).all(|w| w[0] < w[1]), "sorted");
            for eui in &euis {
                assert_eq!(covered(&cover, eui), 1, "{eui} covered once");
            }
            // Every prefix keeps its promise on the values it spans.
            let mut sorted = euis.clone();
            sorted.sort();
            sorted.dedup();
            for prefix in &cover {
                let under = under(&sorted, prefix);
                assert!(span(prefix) <= span_per_device * under as u128, "{prefix}");
            }
            let mut unique: Vec<&str> = refs.clone();
            unique.sort_unstable();
            unique.dedup();
            let groups = groups(&unique, &cover);
            let grouped: usize = groups.iter().map(|(_, e)| e.len()).sum();
            assert_eq!(grouped, sorted.len(), "every EUI in exactly one request");
            for (prefixes, group) in &groups {
                assert!(prefixes.len() <= PREFIXES_PER_REQUEST);
                assert!(
                    group
                        .iter()
                        .all(|e| prefixes.iter().any(|p| e.starts_with(p.as_str())))
                );
            }
        }
    }
}
