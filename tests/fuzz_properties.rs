//! The fuzz targets' checks (`tests/fuzz/src/checks.rs`) as property tests on stable, where
//! cargo-fuzz cannot run: each target's seed corpus (`tests/fuzz/corpus/<target>/`, which
//! keeps every input a fuzzer ever crashed on) is fed as is, then mutated (bytes flipped,
//! inserted, removed, cut short), then replaced by arbitrary bytes, for a few seconds per
//! target. `FUZZ_PROPERTY_CASES` sets the number of mutated inputs (default 2000).

#[path = "fuzz/src/checks.rs"]
mod checks;

use proptest::prelude::*;
use std::path::PathBuf;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!seeds.is_empty(), "{target} has a seed corpus");
    seeds
}

/// One edit of an input.
#[derive(Debug, Clone)]
enum Edit {
    Flip {
        at: usize,
        bits: u8,
    },
    Insert {
        at: usize,
        byte: u8,
    },
    Remove {
        at: usize,
    },
    Cut {
        at: usize,
    },
    /// A byte that means something to JSON, TOML or base64, where parsers branch.
    Special {
        at: usize,
        which: usize,
    },
}

const SPECIAL: &[u8] = b"{}[]\":,.\\=\n#-+0e\x00\xff";

fn apply(mut data: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = data.len().max(1);
        match *edit {
            Edit::Flip { at, bits } if !data.is_empty() => data[at % len] ^= bits,
            Edit::Insert { at, byte } => data.insert(at % (data.len() + 1), byte),
            Edit::Remove { at } if !data.is_empty() => {
                data.remove(at % len);
            }
            Edit::Cut { at } => data.truncate(at % (data.len() + 1)),
            Edit::Special { at, which } => data.insert(at % (data.len() + 1), SPECIAL[which % SPECIAL.len()]),
            _ => {}
        }
    }
    data
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        4 => (any::<usize>(), 1u8..).prop_map(|(at, bits)| Edit::Flip { at, bits }),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Insert { at, byte }),
        2 => any::<usize>().prop_map(|at| Edit::Remove { at }),
        1 => any::<usize>().prop_map(|at| Edit::Cut { at }),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(at, which)| Edit::Special { at, which }),
    ];
    prop::collection::vec(edit, 1..8)
}

fn cases() -> u32 {
    std::env::var("FUZZ_PROPERTY_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000)
}

/// Runs `check` on every seed, on mutated seeds, and on arbitrary bytes.
fn run(target: &str, check: fn(&[u8])) {
    let seeds = corpus(target);
    for seed in &seeds {
        check(seed);
    }
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let mutated = (0..seeds.len(), edits()).prop_map(move |(i, e)| apply(seeds[i].clone(), &e));
    runner
        .run(&mutated, |data| {
            check(&data);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{target}: {e}"));
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..512), |data| {
            check(&data);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{target} on arbitrary bytes: {e}"));
}

#[test]
fn shopify_normaliser_never_panics_and_keeps_events_in_the_delivery_s_shop() {
    run("shopify_normaliser", checks::shopify_normaliser);
}

#[test]
fn woocommerce_normaliser_never_panics_and_ids_follow_the_body() {
    run("woocommerce_normaliser", checks::woocommerce_normaliser);
}

#[test]
fn link_tokens_never_panic_and_whatever_verifies_signs_back_the_same() {
    run("link_token", checks::link_token);
}

#[test]
fn shop_config_files_parse_or_name_what_is_wrong() {
    run("shop_config", checks::shop_config);
}

#[test]
fn import_jsonl_lines_make_orders_in_file_order_or_unquoted_reasons() {
    run("import_jsonl", checks::import_jsonl);
}

#[test]
fn an_import_resumed_at_any_checkpoint_reads_what_the_whole_read_did() {
    run("import_resume", checks::import_resume);
}

#[test]
fn captured_delivery_lines_read_back_what_was_written_or_say_why_not() {
    run("captured_delivery", checks::captured_delivery);
}

/// The seeds themselves are what they claim: each Shopify seed names its fixture's topic.
#[test]
fn the_shopify_seeds_carry_their_fixture_s_topic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz/corpus/shopify_normaliser");
    let seed = std::fs::read(dir.join("orders_paid")).unwrap();
    assert_eq!(
        seed[0],
        checks::shopify_topic_byte(aftersale_platforms::shopify::Topic::OrdersPaid)
    );
    let woo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz/corpus/woocommerce_normaliser");
    let seed = std::fs::read(woo.join("customer_created")).unwrap();
    assert_eq!(
        seed[0],
        checks::woocommerce_topic_byte(aftersale_platforms::woocommerce::Topic::CustomerCreated)
    );
}
