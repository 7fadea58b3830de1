//! The pool's rules against a scripted in-memory platform and journal: every row ends once, lost answers are
//! reconciled, pre-existing devices are never taken for ours, stops are clean.

use super::pool::{PoolConfig, Stop, run};
use super::retry::Backoff;
use super::*;
use crate::platform::CreateRequest;
use crate::platform::update::Changeable;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
enum Fault {
    /// Creates the device, then the answer is lost.
    LoseAnswer,
    /// Creates the device, then answers 500.
    CreateThen500,
    /// Answers 500 without creating.
    Plain500,
    Throttle,
    Reject(u16, i64),
}

#[derive(Default)]
struct FakeState {
    devices: HashMap<String, DeviceInfo>,
    creations: HashMap<String, u32>,
    /// Updates applied, by device key.
    updates: HashMap<String, u32>,
    faults: HashMap<String, VecDeque<Fault>>,
    lookups: u32,
    /// Tag name → EUIs it is on.
    tags: HashMap<String, std::collections::BTreeSet<String>>,
    /// Tag calls received, whatever their answer.
    tag_calls: u32,
    /// Pacing never grants a permit (a long pool-wide pause).
    stalled: bool,
}

#[derive(Clone, Default)]
struct FakePlatform(Arc<Mutex<FakeState>>);

/// The EUI (LoRaWAN) or IMEI (cellular) a request names, and whether it is cellular.
fn key_of(request: &WireRequest) -> (String, bool) {
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    match (body.get("EUI"), body.get("imei")) {
        (Some(eui), _) => (eui.as_str().unwrap().to_string(), false),
        (None, Some(imei)) => (imei.as_str().unwrap().to_string(), true),
        (None, None) => panic!("a request names neither an EUI nor an IMEI"),
    }
}

fn device(eui: &str, created_ms: i64) -> DeviceInfo {
    DeviceInfo {
        eui: eui.to_string(),
        href: Some(format!("/devices/{eui}")),
        uid: Some(eui.to_string()),
        name: None,
        creation_date: Some(created_ms),
        imei: None,
        sim: None,
        state: None,
    }
}

fn status(status: u16, code: Option<i64>, message: &str) -> ApiError {
    ApiError::Status {
        status,
        code,
        message: message.into(),
        retry_after: None,
    }
}

/// The answer a fault gives before anything is done (`refusal` the message of a rejection), if it is one.
fn refused(fault: &Option<Fault>, refusal: &str) -> Option<ApiError> {
    match fault {
        Some(Fault::Throttle) => Some(status(429, None, "slow down")),
        Some(Fault::Plain500) => Some(status(500, None, "oops")),
        Some(Fault::Reject(code, platform_code)) => {
            Some(status(*code, Some(*platform_code), refusal))
        }
        Some(Fault::LoseAnswer | Fault::CreateThen500) | None => None,
    }
}

/// The answer of a request that was carried out and then lost.
fn reset() -> ApiError {
    ApiError::Transport {
        message: "connection reset".into(),
        maybe_sent: true,
    }
}

impl FakePlatform {
    fn fault(&self, key: &str, faults: &[Fault]) {
        self.0
            .lock()
            .unwrap()
            .faults
            .insert(key.into(), faults.iter().cloned().collect());
    }
    fn preexisting(&self, key: &str, created_ms: i64) {
        self.0
            .lock()
            .unwrap()
            .devices
            .insert(key.into(), device(key, created_ms));
    }
    fn creations(&self, key: &str) -> u32 {
        *self.0.lock().unwrap().creations.get(key).unwrap_or(&0)
    }
    /// A device with these changeable values at `version`.
    fn with_values(&self, key: &str, values: &[(Changeable, &str)], version: u64) {
        let mut state = crate::platform::update::DeviceState {
            version: Some(version),
            full: true,
            ..Default::default()
        };
        for (field, value) in values {
            state.values.set(*field, (*value).into());
        }
        let mut device = device(key, 0);
        device.state = Some(Box::new(state));
        self.0.lock().unwrap().devices.insert(key.into(), device);
    }
    fn value(&self, key: &str, field: Changeable) -> serde_json::Value {
        let state = self.0.lock().unwrap();
        state.devices[key]
            .state
            .as_ref()
            .unwrap()
            .values
            .get(field)
            .cloned()
            .unwrap()
    }
    fn updates(&self, key: &str) -> u32 {
        *self.0.lock().unwrap().updates.get(key).unwrap_or(&0)
    }
}

impl Platform for FakePlatform {
    fn read_device(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Option<DeviceInfo>, ApiError>> + Send {
        let mut state = self.0.lock().unwrap();
        state.lookups += 1;
        let found = state.devices.get(reference).cloned();
        async move { Ok(found) }
    }

    /// Applies `change.after` when `version` is the device's (or `force`), with the faults of creations.
    fn update_device(
        &self,
        change: &Change,
        version: Option<u64>,
        force: bool,
    ) -> impl Future<Output = Result<bool, ApiError>> + Send {
        let key = change.reference.clone();
        let mut guard = self.0.lock().unwrap();
        let state = &mut *guard;
        let fault = state.faults.get_mut(&key).and_then(|f| f.pop_front());
        let result = (|| {
            if let Some(refusal) = refused(&fault, "no") {
                return Err(refusal);
            }
            let Some(device) = state.devices.get_mut(&key) else {
                return Ok(false);
            };
            let current = device.state.as_mut().unwrap();
            if !force && current.version != version {
                return Err(ApiError::Conflict("stale".into()));
            }
            for (field, value) in change.after.iter() {
                current.values.set(field, value.clone());
            }
            current.version = current.version.map(|v| v + 1);
            *state.updates.entry(key.clone()).or_default() += 1;
            match fault {
                Some(Fault::LoseAnswer | Fault::CreateThen500) => Err(reset()),
                _ => Ok(true),
            }
        })();
        async move { result }
    }

    fn pace(&self) -> impl Future<Output = ()> + Send {
        let stalled = self.0.lock().unwrap().stalled;
        async move {
            if stalled {
                std::future::pending::<()>().await;
            }
        }
    }

    fn create_device(
        &self,
        request: &WireRequest,
    ) -> impl Future<Output = Result<DeviceInfo, ApiError>> + Send {
        let (key, cellular) = key_of(request);
        let mut state = self.0.lock().unwrap();
        let fault = state.faults.get_mut(&key).and_then(|f| f.pop_front());
        let result = (|| {
            if let Some(refusal) = refused(&fault, "bad model") {
                return Err(refusal);
            }
            if state.devices.contains_key(&key) {
                return Err(status(
                    409,
                    Some(111),
                    "A Device report already exists for the given EUI",
                ));
            }
            // Cellular devices get their EUI from the platform.
            let eui = if cellular {
                format!("C{key}")
            } else {
                key.clone()
            };
            state.devices.insert(key.clone(), device(&eui, i64::MAX));
            *state.creations.entry(key.clone()).or_default() += 1;
            match fault {
                Some(Fault::LoseAnswer) => Err(reset()),
                Some(Fault::CreateThen500) => Err(status(502, None, "bad gateway")),
                _ => Ok(state.devices[&key].clone()),
            }
        })();
        async move { result }
    }

    fn device_by_eui(
        &self,
        eui: &str,
    ) -> impl Future<Output = Result<Option<DeviceInfo>, ApiError>> + Send {
        self.read_device(eui)
    }

    /// Deletes by EUI (`e<EUI>`), with the same faults as creations.
    fn delete_device(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<bool, ApiError>> + Send {
        let key = reference.trim_start_matches('e').to_string();
        let mut state = self.0.lock().unwrap();
        let fault = state.faults.get_mut(&key).and_then(|f| f.pop_front());
        let result = match (refused(&fault, "no"), fault) {
            (Some(refusal), _) => Err(refusal),
            (None, Some(_)) => {
                state.devices.remove(&key);
                Err(reset())
            }
            (None, None) => Ok(state.devices.remove(&key).is_some()),
        };
        async move { result }
    }

    /// Tags (a set per tag: tagging twice is tagging once), with the faults of `tag:<name>`; a lost answer is lost
    /// after the tagging is done.
    fn tag_devices(
        &self,
        call: &crate::platform::TagCall,
    ) -> impl Future<Output = Result<(), ApiError>> + Send {
        let mut state = self.0.lock().unwrap();
        state.tag_calls += 1;
        let fault = state
            .faults
            .get_mut(&format!("tag:{}", call.tag))
            .and_then(|f| f.pop_front());
        let result = match refused(&fault, "no") {
            Some(refusal) => Err(refusal),
            None => {
                let on = state.tags.entry(call.tag.clone()).or_default();
                on.extend(call.dev_euis.iter().cloned());
                match fault {
                    None => Ok(()),
                    Some(_) => Err(reset()),
                }
            }
        };
        async move { result }
    }
}

fn tag_call(row: u64, tag: &str, euis: &[&str]) -> WorkItem {
    WorkItem {
        row,
        action: Action::Tag,
        kind: None,
        operation: Operation::Tag(Some(crate::platform::TagCall {
            tag: tag.into(),
            action: crate::platform::TagAction::Tag,
            dev_euis: euis.iter().map(|e| e.to_string()).collect(),
        })),
        keys: LookupKeys::default(),
        unknown: false,
    }
}

fn delete(row: u64, eui: &str) -> WorkItem {
    WorkItem {
        row,
        action: Action::Delete,
        kind: Some(Kind::Otaa),
        operation: Operation::Delete(delete_reference(None, Some(eui))),
        keys: LookupKeys::default(),
        unknown: false,
    }
}

#[derive(Default)]
struct FakeLog {
    sending: Mutex<HashMap<u64, u32>>,
    outcomes: Mutex<Vec<Outcome>>,
}

impl RowLog for FakeLog {
    fn sending(&self, row: u64) -> impl Future<Output = anyhow::Result<()>> + Send {
        *self.sending.lock().unwrap().entry(row).or_default() += 1;
        async { Ok(()) }
    }
    fn outcome(&self, outcome: Outcome) -> anyhow::Result<()> {
        self.outcomes.lock().unwrap().push(outcome);
        Ok(())
    }
}

impl FakeLog {
    fn of(&self, row: u64) -> Outcome {
        let outcomes = self.outcomes.lock().unwrap();
        let mine: Vec<_> = outcomes.iter().filter(|o| o.row == row).collect();
        assert_eq!(mine.len(), 1, "row {row} must end exactly once: {mine:?}");
        mine[0].clone()
    }
}

fn otaa(row: u64, eui: &str) -> WorkItem {
    let keys = LookupKeys {
        eui: Some(eui.into()),
        ..LookupKeys::default()
    };
    create(
        row,
        Kind::Otaa,
        serde_json::json!({"EUI": eui, "activation": "OTAA"}),
        keys,
    )
}

fn cellular(row: u64, imei: &str) -> WorkItem {
    let keys = LookupKeys {
        imei: Some(imei.into()),
        ..LookupKeys::default()
    };
    let body = serde_json::json!({"imei": imei, "connectivity": "CELLULAR"});
    create(row, Kind::Cellular, body, keys)
}

fn create(row: u64, kind: Kind, body: serde_json::Value, keys: LookupKeys) -> WorkItem {
    WorkItem {
        row,
        action: Action::Create,
        kind: Some(kind),
        operation: Operation::Create(Some(WireRequest::from(&CreateRequest {
            kind,
            mode: None,
            body,
        }))),
        keys,
        unknown: false,
    }
}

fn config(concurrency: usize, max_errors: Option<u64>) -> PoolConfig {
    PoolConfig {
        concurrency,
        max_errors,
        backoff: Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(4),
        },
        batch_started_ms: Some(1_000_000),
        force: false,
    }
}

async fn drive(
    platform: &FakePlatform,
    items: Vec<WorkItem>,
    config: PoolConfig,
    cancel: CancellationToken,
) -> (Arc<FakeLog>, Stop) {
    let log = Arc::new(FakeLog::default());
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        // In chunks of three, as the journal's feeder sends them in chunks: a chunk may end anywhere.
        for chunk in items.chunks(3) {
            if tx.send(chunk.to_vec()).await.is_err() {
                break;
            }
        }
    });
    let stop = run(
        platform.clone(),
        log.clone(),
        rx,
        &config,
        cancel,
        Arc::new(Counters::default()),
    )
    .await;
    (log, stop)
}

fn eui(n: u64) -> String {
    format!("70B3D5E7560{n:05X}")
}

#[tokio::test]
async fn every_row_is_created_once() {
    let platform = FakePlatform::default();
    let items = (1..=50).map(|n| otaa(n, &eui(n))).collect();
    let (log, stop) = drive(&platform, items, config(8, None), CancellationToken::new()).await;
    assert_eq!(stop, Stop::Drained);
    for n in 1..=50 {
        let outcome = log.of(n);
        assert_eq!(outcome.state, RowState::Done);
        assert_eq!(outcome.device_eui.as_deref(), Some(eui(n).as_str()));
        assert_eq!(platform.creations(&eui(n)), 1);
    }
}

#[tokio::test]
async fn lost_answers_and_5xx_after_creation_are_reconciled_not_resent() {
    let platform = FakePlatform::default();
    platform.fault(&eui(1), &[Fault::LoseAnswer]);
    platform.fault(&eui(2), &[Fault::CreateThen500]);
    platform.fault(
        &eui(3),
        &[Fault::Plain500, Fault::Throttle, Fault::Plain500],
    );
    let items = (1..=3).map(|n| otaa(n, &eui(n))).collect();
    let (log, _) = drive(&platform, items, config(3, None), CancellationToken::new()).await;
    for n in 1..=3 {
        assert_eq!(log.of(n).state, RowState::Done, "row {n}");
        assert_eq!(platform.creations(&eui(n)), 1, "row {n}");
    }
    // Rows 1 and 2 were answered by the reconciliation, not by a second POST.
    let sending = log.sending.lock().unwrap();
    assert_eq!(sending[&1], 1);
    assert_eq!(sending[&2], 1);
    assert_eq!(sending[&3], 4);
    // Each outcome counts the requests its row sent.
    let attempts: Vec<u32> = (1..=3).map(|n| log.of(n).attempts).collect();
    assert_eq!(attempts, [1, 1, 4]);
}

#[tokio::test]
async fn a_device_already_there_ends_exists_never_created() {
    let platform = FakePlatform::default();
    platform.preexisting(&eui(1), 10);
    // Found by reconciliation, but the platform dates it before the batch: not ours.
    platform.preexisting(&eui(2), 10);
    let mut resumed = otaa(2, &eui(2));
    resumed.unknown = true;
    let (log, _) = drive(
        &platform,
        vec![otaa(1, &eui(1)), resumed],
        config(2, None),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(log.of(1).state, RowState::Exists);
    assert_eq!(log.of(2).state, RowState::Exists);
    assert_eq!(platform.creations(&eui(1)), 0);
}

#[tokio::test]
async fn a_row_found_sending_is_reconciled_before_anything_is_sent() {
    let platform = FakePlatform::default();
    // The previous run's request created it (dated after the batch start) and the process died.
    platform.preexisting(&eui(1), 2_000_000);
    let mut item = otaa(1, &eui(1));
    item.unknown = true;
    let mut not_there = otaa(2, &eui(2));
    not_there.unknown = true;
    let (log, _) = drive(
        &platform,
        vec![item, not_there],
        config(1, None),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(log.of(1).state, RowState::Done);
    assert_eq!(
        log.of(1).device_href.as_deref(),
        Some("/devices/70B3D5E756000001")
    );
    assert!(!log.sending.lock().unwrap().contains_key(&1));
    assert_eq!(log.of(2).state, RowState::Done);
    assert_eq!(platform.creations(&eui(2)), 1);
}

#[tokio::test]
async fn cellular_lost_answer_is_settled_by_the_duplicate_answer() {
    let platform = FakePlatform::default();
    platform.fault("356938035643809", &[Fault::LoseAnswer]);
    let log = run_items(&platform, vec![cellular(1, "356938035643809")], false).await;
    assert_eq!(log.of(1).state, RowState::Done);
    assert_eq!(platform.creations("356938035643809"), 1);
}

#[tokio::test]
async fn client_errors_are_final_with_code_and_message() {
    let platform = FakePlatform::default();
    platform.fault(&eui(1), &[Fault::Reject(400, 42)]);
    let log = run_items(&platform, vec![otaa(1, &eui(1))], false).await;
    let outcome = log.of(1);
    assert_eq!(outcome.state, RowState::Failed);
    assert_eq!(outcome.http_status, Some(400));
    assert_eq!(outcome.error_code.as_deref(), Some("42"));
    assert_eq!(outcome.message.as_deref(), Some("bad model"));
    assert_eq!(log.sending.lock().unwrap()[&1], 1);
}

#[tokio::test]
async fn endless_server_errors_fail_the_row_after_the_attempt_cap() {
    let platform = FakePlatform::default();
    platform.fault(&eui(1), &vec![Fault::Plain500; 20]);
    let log = run_items(&platform, vec![otaa(1, &eui(1))], false).await;
    assert_eq!(log.of(1).state, RowState::Failed);
    assert_eq!(log.of(1).http_status, Some(500));
    assert_eq!(log.sending.lock().unwrap()[&1], super::retry::MAX_ATTEMPTS);
    assert_eq!(log.of(1).attempts, super::retry::MAX_ATTEMPTS);
}

#[tokio::test]
async fn a_row_sent_then_stopped_before_its_retry_ends_sending_with_its_attempts() {
    let platform = FakePlatform::default();
    platform.fault(&eui(1), &[Fault::Plain500]);
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stopper.cancel();
    });
    let mut slow = config(1, None);
    slow.backoff.base = Duration::from_secs(30);
    slow.backoff.cap = Duration::from_secs(30);
    let (log, stop) = drive(&platform, vec![otaa(1, &eui(1))], slow, cancel).await;
    assert_eq!(stop, Stop::Cancelled);
    // Its 500 may have come after the device was made: unknown, for `resume` to reconcile.
    let outcome = log.of(1);
    assert_eq!((outcome.state, outcome.attempts), (RowState::Sending, 1));
}

#[tokio::test]
async fn max_errors_stops_taking_rows() {
    let platform = FakePlatform::default();
    for n in 1..=20 {
        platform.fault(&eui(n), &[Fault::Reject(400, 7)]);
    }
    let items = (1..=20).map(|n| otaa(n, &eui(n))).collect();
    let (log, stop) = drive(
        &platform,
        items,
        config(1, Some(3)),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(stop, Stop::MaxErrors);
    assert_eq!(log.outcomes.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn cancellation_takes_no_new_rows() {
    let platform = FakePlatform::default();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let items = (1..=20).map(|n| otaa(n, &eui(n))).collect();
    let (log, stop) = drive(&platform, items, config(4, None), cancel).await;
    assert_eq!(stop, Stop::Cancelled);
    assert!(log.outcomes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn rows_waiting_for_a_permit_are_not_sending_and_stop_on_cancel() {
    let platform = FakePlatform::default();
    platform.0.lock().unwrap().stalled = true;
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stopper.cancel();
    });
    let items = (1..=6).map(|n| otaa(n, &eui(n))).collect();
    let (log, stop) = drive(&platform, items, config(3, None), cancel).await;
    assert_eq!(stop, Stop::Cancelled);
    assert!(
        log.sending.lock().unwrap().is_empty(),
        "a row waiting for its permit was journalled sending"
    );
    assert!(log.outcomes.lock().unwrap().is_empty());
    assert_eq!(platform.creations(&eui(1)), 0);
}

#[tokio::test]
async fn a_tag_call_whose_answer_was_lost_is_sent_again_and_a_refused_one_fails() {
    let platform = FakePlatform::default();
    platform.fault("tag:lot 7", &[Fault::LoseAnswer, Fault::Plain500]);
    platform.fault("tag:bad", &[Fault::Reject(400, 100)]);
    let (a, b) = (eui(1), eui(2));
    let items = vec![
        tag_call(1, "lot 7", &[&a, &b]),
        tag_call(2, "bad", &[&a]),
        WorkItem {
            unknown: true,
            ..tag_call(3, "found sending", &[&b])
        },
        WorkItem {
            operation: Operation::Tag(None),
            ..tag_call(4, "unresolved", &[])
        },
    ];
    let (log, stop) = drive(&platform, items, config(2, None), CancellationToken::new()).await;
    assert_eq!(stop, Stop::Drained);
    let outcome = log.of(1);
    assert_eq!((outcome.state, outcome.attempts), (RowState::Done, 3));
    assert_eq!(log.of(2).state, RowState::Failed);
    assert_eq!(log.of(2).http_status, Some(400));
    // Found `sending` on resume: sent again, with no look-up first.
    assert_eq!(log.of(3).state, RowState::Done);
    assert_eq!(log.of(4).state, RowState::Failed);
    let state = platform.0.lock().unwrap();
    assert_eq!(state.tag_calls, 5);
    assert_eq!(state.lookups, 0);
    assert_eq!(state.tags["lot 7"].len(), 2, "sent three times, on once");
}

#[tokio::test]
async fn deletions_end_done_gone_or_failed_and_a_lost_answer_is_asked_again() {
    let platform = FakePlatform::default();
    for n in [1, 2, 3, 4] {
        platform.preexisting(&eui(n), 0);
    }
    platform.fault(&eui(2), &[Fault::Plain500, Fault::Throttle]);
    platform.fault(&eui(3), &[Fault::LoseAnswer]);
    platform.fault(&eui(4), &[Fault::Reject(403, 9)]);
    let items = (1..=5).map(|n| delete(n, &eui(n))).collect();
    let (log, stop) = drive(&platform, items, config(2, None), CancellationToken::new()).await;
    assert_eq!(stop, Stop::Drained);
    let ends: Vec<(RowState, u32)> = (1..=5)
        .map(|n| {
            let o = log.of(n);
            (o.state, o.attempts)
        })
        .collect();
    assert_eq!(
        ends,
        [
            (RowState::Done, 1),
            (RowState::Done, 3),
            // Deleted by the attempt whose answer was lost: the next one finds it gone.
            (RowState::Gone, 2),
            (RowState::Failed, 1),
            (RowState::Gone, 1),
        ]
    );
    assert_eq!(log.of(4).http_status, Some(403));
    assert!(
        platform
            .0
            .lock()
            .unwrap()
            .devices
            .keys()
            .all(|k| *k == eui(4))
    );
}

#[test]
fn a_deletion_names_the_uid_else_the_eui() {
    assert_eq!(
        delete_reference(Some("2227"), Some("70b3d5e756000999")).as_deref(),
        Some("2227")
    );
    assert_eq!(
        delete_reference(None, Some("70b3d5e756000999")).as_deref(),
        Some("e70B3D5E756000999")
    );
    assert_eq!(delete_reference(None, None), None);
}

/// An update of `key`'s name from `before` to `after`, read at `version` (a restore reads first).
fn rename(row: u64, key: &str, before: &str, after: &str, version: Option<u64>) -> WorkItem {
    let mut change = Change {
        reference: key.into(),
        before: Default::default(),
        after: Default::default(),
        version,
        read_first: version.is_none(),
    };
    change.before.set(Changeable::Name, before.into());
    change.after.set(Changeable::Name, after.into());
    WorkItem {
        row,
        action: if version.is_some() {
            Action::Update
        } else {
            Action::Restore
        },
        kind: Some(Kind::Otaa),
        operation: Operation::Update(Some(change)),
        keys: LookupKeys::default(),
        unknown: false,
    }
}

async fn run_items(platform: &FakePlatform, items: Vec<WorkItem>, force: bool) -> Arc<FakeLog> {
    let config = PoolConfig {
        force,
        ..config(2, None)
    };
    let (log, stop) = drive(platform, items, config, CancellationToken::new()).await;
    assert_eq!(stop, Stop::Drained);
    log
}

#[tokio::test]
async fn a_lost_update_answer_is_read_back_and_never_sent_twice() {
    let platform = FakePlatform::default();
    platform.with_values("A", &[(Changeable::Name, "old")], 4);
    platform.fault("A", &[Fault::LoseAnswer]);
    let log = run_items(
        &platform,
        vec![rename(2, "A", "old", "new", Some(4))],
        false,
    )
    .await;
    assert_eq!(log.of(2).state, RowState::Done);
    assert_eq!(platform.updates("A"), 1);
    assert_eq!(platform.value("A", Changeable::Name), "new");

    // Refused before it was applied (a 500): read back, still the old values, sent again once.
    platform.with_values("B", &[(Changeable::Name, "old")], 1);
    platform.fault("B", &[Fault::Plain500]);
    let log = run_items(
        &platform,
        vec![rename(3, "B", "old", "new", Some(1))],
        false,
    )
    .await;
    assert_eq!(log.of(3).state, RowState::Done);
    assert_eq!(platform.updates("B"), 1);
}

#[tokio::test]
async fn a_device_changed_since_it_was_read_ends_conflict_unless_forced() {
    let platform = FakePlatform::default();
    // Read at version 4; someone renamed it since (version 5).
    platform.with_values("A", &[(Changeable::Name, "theirs")], 5);
    let log = run_items(
        &platform,
        vec![rename(2, "A", "old", "new", Some(4))],
        false,
    )
    .await;
    let outcome = log.of(2);
    assert_eq!(outcome.state, RowState::Conflict);
    let message = outcome.message.unwrap();
    assert!(
        message.contains("read 'old', file 'new', platform now 'theirs'"),
        "{message}"
    );
    assert_eq!(platform.updates("A"), 0);
    assert_eq!(platform.value("A", Changeable::Name), "theirs");

    let log = run_items(&platform, vec![rename(2, "A", "old", "new", Some(4))], true).await;
    assert_eq!(log.of(2).state, RowState::Done);
    assert_eq!(platform.value("A", Changeable::Name), "new");
}

#[tokio::test]
async fn a_restore_puts_back_only_what_the_batch_wrote() {
    let platform = FakePlatform::default();
    // The batch wrote "new" over "old"; A still has it, B was renamed since, C already has "old".
    platform.with_values("A", &[(Changeable::Name, "new")], 7);
    platform.with_values("B", &[(Changeable::Name, "other")], 9);
    platform.with_values("C", &[(Changeable::Name, "old")], 2);
    let items = ["A", "B", "C"]
        .iter()
        .enumerate()
        .map(|(i, key)| rename(i as u64 + 2, key, "new", "old", None))
        .collect();
    let log = run_items(&platform, items, false).await;
    assert_eq!(log.of(2).state, RowState::Done);
    assert_eq!(platform.value("A", Changeable::Name), "old");
    assert_eq!(log.of(3).state, RowState::Conflict);
    assert_eq!(platform.value("B", Changeable::Name), "other");
    assert_eq!(log.of(4).state, RowState::Unchanged);
    assert_eq!(platform.updates("B") + platform.updates("C"), 0);
}
