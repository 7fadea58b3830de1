//! What a batch spends the platform's rate on, end to end against the simulator: learning which devices exist
//! takes a few DevEUI-prefix requests whatever the subscription's size, `verify` reads the batch's devices and not
//! the subscription, a platform with shorter pages than asked sets the page size, prefixes that match many other
//! devices are tightened, and the reconciliation of lost cellular answers lists only the batch's cellular devices.

use crate::engine_support;

use engine_support::*;
use tpbulk::platform::{DeviceFilter, Lister, LookupProgress};
use tpbulk::sim::SimConfig;

#[test]
fn a_batch_into_a_large_subscription_learns_what_exists_in_a_few_requests_and_verify_reads_only_the_batch()
 {
    // 20,000 devices elsewhere in the subscription, pages of at most 100: listing it would take 200 requests.
    let env = Env::new(SimConfig {
        preload: 20_000,
        max_page_size: 100,
        ..SimConfig::default()
    });
    // A contiguous shipment of 2,000, of which 20 (scattered) are already there.
    let already: Vec<u64> = (0..20).map(|i| 1 + i * 97).collect();
    for &n in &already {
        env.preexisting(n);
    }
    let file = env.write("shipment.csv", &otaa_csv(1, 2000));

    let before = env.sim.stats().requests;
    let plan = env.run(&["plan", file.to_str().unwrap()]);
    assert_eq!(plan.code(), 0, "{}", plan.describe());
    let planned = env.requests_since(&before);
    assert!(
        plan.stdout()
            .contains("2000 rows: 1980 would be created, 20 already exist"),
        "{}",
        plan.describe()
    );
    // What plan says it spent is what the platform saw.
    let made: u64 = planned.values().sum();
    assert!(
        plan.stdout().contains(&format!(
            "requests: {made} before the first creation (look-ups {}",
            count(&planned, "GET /devices")
        )),
        "{}\n{planned:?}",
        plan.describe()
    );
    assert!(
        plan.stdout()
            .contains(&format!("{} in all with 1980 creations", made + 1980)),
        "{}",
        plan.describe()
    );

    let before = env.sim.stats().requests;
    let run = env.import_file(&file, &[]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let batch = run.batch();
    let counts = env.counts(&batch);
    assert_eq!((counts.created, counts.exists), (1980, 20));
    for row in env.rows(&batch) {
        let n = row.row - 1;
        let state = if already.contains(&n) {
            tpbulk::journal::RowState::Exists
        } else {
            tpbulk::journal::RowState::Done
        };
        assert_eq!(row.state, state, "row {}", row.row);
    }
    let imported = env.requests_since(&before);
    // Goal: at most ⌈20 ÷ 100⌉ plus a few prefix requests before the first creation, and no look-up by EUI.
    let look_ups = count(&imported, "GET /devices");
    assert!(look_ups <= 1 + 4, "{imported:?}");
    assert_eq!(count(&imported, "GET /devices/{id}"), 0, "{imported:?}");
    assert_eq!(count(&imported, "POST /devices"), 1980);
    assert!(
        run.stdout()
            .contains(&format!("look-ups {look_ups}, creations 1980, retries 0")),
        "{}",
        run.describe()
    );
    // Never silent: what the command is doing, from its first second.
    let stderr = run.stderr();
    assert!(stderr.contains("tpbulk: reading the catalogue"), "{stderr}");
    assert!(
        stderr.contains("learning which devices exist: 0 of 2000 checked"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "2000 devices checked in {look_ups} request{}, 20 on the platform",
            if look_ups == 1 { "" } else { "s" }
        )),
        "{stderr}"
    );
    // The batch's own progress line comes at once, not after its first five seconds.
    assert!(stderr.contains("/1980 rows, created"), "{stderr}");

    // verify reads the batch's devices: at most ⌈2,000 ÷ 100⌉ plus a few, not the 220 pages of the subscription.
    let before = env.sim.stats().requests;
    let run = env.run(&["verify", &batch]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert!(
        run.stdout()
            .contains("2000 of 2000 devices on the platform, 0 missing")
    );
    let verified = env.requests_since(&before);
    assert!(count(&verified, "GET /devices") <= 20 + 4, "{verified:?}");

    // A device deleted behind the batch's back is found missing.
    assert!(env.sim.remove_device(&eui(1234)));
    let run = env.run(&["verify", &batch]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let missing: Vec<&str> = run
        .0
        .stdout
        .split(|b| *b == b'\n')
        .filter_map(|l| std::str::from_utf8(l).ok())
        .filter(|l| l.starts_with("missing"))
        .collect();
    assert_eq!(missing.len(), 1, "{}", run.describe());
    assert!(missing[0].contains(&eui(1234)), "{}", run.describe());
}

#[test]
fn a_page_shorter_than_asked_while_more_sets_the_page_size() {
    let env = Env::new(SimConfig {
        max_page_size: 3,
        ..SimConfig::default()
    });
    for n in 0..10 {
        env.preexisting(n);
    }
    let client = env.client();
    let before = env.sim.stats().requests;
    let (sizes, read) = env.block_on(async {
        let mut lister = Lister::new(&client, 1000);
        let filter = DeviceFilter::default();
        let first = lister.page(&filter, None).await.unwrap();
        let mut sizes = vec![lister.page_size()];
        let mut read = 0;
        lister
            .follow(&filter, first, |devices| {
                read += devices.len();
                true
            })
            .await
            .unwrap();
        sizes.push(lister.page_size());
        (sizes, read)
    });
    assert_eq!(sizes, [3, 3]);
    assert_eq!(read, 10);
    assert_eq!(count(&env.requests_since(&before), "GET /devices"), 4);
}

#[test]
fn prefixes_that_match_many_other_devices_are_tightened() {
    let env = Env::new(SimConfig {
        max_page_size: 100,
        ..SimConfig::default()
    });
    // The batch: every fourth EUI of a 4,096 block, which one loose prefix covers; the platform holds all the
    // others of the block, and 10 of the batch's.
    let batch: Vec<u64> = (0..0x1000).step_by(4).collect();
    for n in 0..0x1000u64 {
        if n % 4 != 0 || n < 40 && n % 16 == 0 {
            env.preexisting(n);
        }
    }
    let client = env.client();
    let keys: Vec<tpbulk::platform::ExistKey> = batch
        .iter()
        .map(|&n| tpbulk::platform::ExistKey::Eui(eui(n)))
        .collect();
    let before = env.sim.stats().requests;
    let found = env.block_on(async {
        tpbulk::platform::find_existing(
            &client,
            &keys,
            &LookupProgress::new(&tpbulk::logging::Display::hidden()),
        )
        .await
        .unwrap()
    });
    let mut euis: Vec<&String> = found
        .keys()
        .map(|k| match k {
            tpbulk::platform::ExistKey::Eui(e) => e,
            other => panic!("{other:?}"),
        })
        .collect();
    euis.sort();
    let expected: Vec<String> = (0..40).step_by(16).map(eui).collect();
    assert_eq!(euis, expected.iter().collect::<Vec<_>>());
    // Paging through the loose prefix would take 31 pages of 100; one page, then 1,024 exact EUIs by 50.
    let requests = count(&env.requests_since(&before), "GET /devices");
    assert_eq!(requests, 1 + 1024u64.div_ceil(50), "{requests}");
}

#[test]
fn lost_cellular_answers_are_reconciled_from_the_batchs_cellular_devices_only() {
    // 5,000 LoRaWAN devices were there long before: the reconciliation does not read them.
    let env = Env::new(SimConfig {
        preload: 5_000,
        max_page_size: 100,
        drop: 1.0,
        ..SimConfig::default()
    });
    let file = env.write("cellular.csv", CELLULAR_CSV);
    let before = env.sim.stats().requests;
    let run = env.import_file(&file, &[]);
    let requests = env.requests_since(&before);
    assert_eq!(run.code(), 0, "{}\n{requests:?}", run.describe());
    let batch = run.batch();
    let rows = env.rows(&batch);
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert_eq!(row.state, tpbulk::journal::RowState::Done, "{row:?}");
        assert!(
            row.device_uid.is_some(),
            "row {} has its reference",
            row.row
        );
    }
    // One listing of the cellular devices before the batch, one of those created since it began after it.
    assert_eq!(count(&requests, "GET /devices"), 2, "{requests:?}");
}
