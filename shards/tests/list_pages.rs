//! Listing streams page by page: over a bucket many pages long, every page comes back
//! in key order, the pages together are exactly the bucket, and each page costs the
//! same number of member walks whether the bucket holds 40 keys or 400; keys the
//! members agree on are listed without reading their records.

use crate::common;

use common::*;
use shoal_io::{Drive, SimDrive};
use shoal_shards::ListQuery;
use shoal_shards::member::Verb;

const PAGE_KEYS: usize = 10;

/// Puts `count` keys spread over folders and returns them sorted.
async fn fill(store: &TestStore<SimDrive>, count: usize) -> Vec<String> {
    let mut keys: Vec<String> = (0..count).map(|i| format!("f{}/k{i:04}", i % 7)).collect();
    for key in &keys {
        put(store, key, key.as_bytes()).await;
    }
    keys.sort();
    keys
}

/// Lists page by page; returns every key and the most walk calls one page took.
async fn list_all(store: &TestStore<SimDrive>, query: &ListQuery) -> (Vec<String>, u64) {
    let mut keys = Vec::new();
    let mut query = query.clone();
    let mut walks_per_page_max = 0;
    for _ in 0..1000 {
        let before = store.walk_calls();
        let page = store.list_objects("bkt", &query).await.unwrap();
        walks_per_page_max = walks_per_page_max.max(store.walk_calls() - before);
        assert!(page.objects.len() + page.common_prefixes.len() <= query.max_keys);
        keys.extend(page.objects.iter().map(|o| o.key.clone()));
        keys.extend(page.common_prefixes.iter().cloned());
        if !page.is_truncated {
            return (keys, walks_per_page_max);
        }
        query.start_after = page
            .next_start_after
            .expect("a truncated page names its last");
    }
    panic!("listing did not end within 1000 pages");
}

/// Pages are exact and in order, and their cost does not grow with the bucket.
#[test]
fn pages_cost_the_same_in_small_and_large_buckets() {
    run(async {
        let query = ListQuery {
            max_keys: PAGE_KEYS,
            ..ListQuery::default()
        };
        let mut costs = Vec::new();
        for count in [40, 400] {
            let store = store(Sim { made: vec![] }.drives(4), 2).await;
            let keys = fill(&store, count).await;
            let (listed, walks_max) = list_all(&store, &query).await;
            assert_eq!(listed, keys, "{count} keys");
            costs.push(walks_max);
        }
        // One round of one walk per member per page: 4 drives.
        assert_eq!(costs, vec![4, 4], "walks per page (small, large)");
    });
}

/// With a delimiter the pages hold common prefixes once each, in order, and a page
/// that starts inside a prefix already listed does not list it again.
#[test]
fn delimited_pages_list_each_prefix_once() {
    run(async {
        let store = store(Sim { made: vec![] }.drives(4), 2).await;
        fill(&store, 70).await;
        put(&store, "top", b"t").await;
        for delimiter in ["/", "k"] {
            let query = ListQuery {
                delimiter: Some(delimiter.to_owned()),
                max_keys: 3,
                ..ListQuery::default()
            };
            let (listed, _) = list_all(&store, &query).await;
            let expected: Vec<String> = if delimiter == "/" {
                (0..7)
                    .map(|f| format!("f{f}/"))
                    .chain(["top".to_owned()])
                    .collect()
            } else {
                (0..7)
                    .map(|f| format!("f{f}/k"))
                    .chain(["top".to_owned()])
                    .collect()
            };
            let mut sorted = listed.clone();
            sorted.sort();
            assert_eq!(sorted, expected, "delimiter {delimiter}");
        }
    });
}

/// A folder with more children than a walk batch holds is walked a batch at a time
/// (the rest of its children put off, `member/local/walk.rs`), and nothing is lost or
/// repeated at the seams: flat keys at the bucket's root, keys that sort between a key
/// and the keys below it (`a-b` before `a/b`, `a` before both), keys that are folders
/// of other keys, escaped names, with pages of every size from 1 and a delimiter.
#[test]
fn large_folders_are_walked_a_batch_at_a_time() {
    run(async {
        let store = store(Sim { made: vec![] }.drives(4), 2).await;
        let mut keys: Vec<String> = (0..60).map(|i| format!("k{i:03}")).collect();
        keys.extend(
            [
                "a", "a-b", "a/b", "a/b/c", "a0", "a/", "a//x", "_x", "+y", "%z", "a/_meta",
                "k030/in", "k030-", "zz",
            ]
            .map(str::to_owned),
        );
        for key in &keys {
            put(&store, key, key.as_bytes()).await;
        }
        keys.sort();
        for max_keys in [1, 2, 3, 7, 1000] {
            let query = ListQuery {
                max_keys,
                ..ListQuery::default()
            };
            let (listed, _) = list_all(&store, &query).await;
            assert_eq!(listed, keys, "max-keys {max_keys}");
        }
        let mut expected: Vec<String> = keys
            .iter()
            .map(|key| match key.find('/') {
                Some(at) => key[..=at].to_owned(),
                None => key.clone(),
            })
            .collect();
        expected.dedup();
        for max_keys in [1, 4] {
            let query = ListQuery {
                delimiter: Some("/".to_owned()),
                max_keys,
                ..ListQuery::default()
            };
            // A page lists its keys, then its prefixes: sorted, the pages are the set.
            let (mut listed, _) = list_all(&store, &query).await;
            listed.sort();
            assert_eq!(listed, expected, "delimiter, max-keys {max_keys}");
        }
    });
}

/// Metadata records read by the store's members so far (the `ReadMeta` verb).
fn meta_reads(store: &TestStore<SimDrive>) -> u64 {
    (0..4)
        .map(|i| store.drive_counts(i).latency[Verb::ReadMeta.index()].count)
        .sum()
}

/// Folders listed on the drives so far.
fn folder_listings(drives: &[SimDrive]) -> u64 {
    drives.iter().map(SimDrive::list_dir_calls).sum()
}

/// Keys whose records every member holds alike are listed from what the members' walks
/// summarise: the page reads no metadata record and shows each key's size and ETag. A
/// key with a member whose record differs is read in full, so the page shows the
/// agreed version, never the odd copy; a deleted key comes back on none of them.
#[test]
fn agreed_keys_are_listed_without_reading_their_records() {
    run(async {
        let mut backend = Sim { made: vec![] };
        let drives = Backend::drives(&mut backend, 4);
        let store = store(drives.clone(), 2).await;
        put(&store, "a", b"first").await;
        let older = drives[1].read_file("bkt/a/_meta").await.unwrap();
        put(&store, "a", b"second!").await;
        put(&store, "b", b"bee").await;
        put(&store, "gone", b"x").await;
        let leftover = drives[2].read_file("bkt/gone/_meta").await.unwrap();
        assert!(store.delete_object("bkt", "gone").await.unwrap());
        let heads = [
            store.head_object("bkt", "a").await.unwrap(),
            store.head_object("bkt", "b").await.unwrap(),
        ];
        let expected: Vec<(String, u64, String)> = heads
            .iter()
            .map(|h| (h.key.clone(), h.size_bytes, h.etag.clone()))
            .collect();

        let (listed, reads, folders) = list_counted(&store, &drives).await;
        assert_eq!(listed, expected);
        assert_eq!(reads, 0, "every key agreed: no record read");
        assert_eq!(
            folders, 0,
            "walked from the listing indexes: no folder listed"
        );

        // One member holds the older record of `a`, another the deleted key's, put
        // there behind the verbs' backs; a restart without a clean stop rebuilds the
        // listing indexes from the records, so they hold those copies too.
        drives[1]
            .write_file_atomic("bkt/a/_meta", &older)
            .await
            .unwrap();
        drives[2]
            .write_file_atomic("bkt/gone/_meta", &leftover)
            .await
            .unwrap();
        drop(store);
        let store = store_on(drives.clone(), 2).await;
        // Walked from the records while the indexes rebuild, then from the indexes.
        for from_index in [false, true] {
            if from_index {
                wait_for_indexes(&store, "bkt").await;
            } else {
                assert!(
                    !store.listing_indexes_ready("bkt"),
                    "rebuilt before the first listing"
                );
            }
            let (listed, reads, folders) = list_counted(&store, &drives).await;
            assert_eq!(listed, expected, "the agreed versions only");
            assert_eq!(folders == 0, from_index, "folders listed: {folders}");
            assert!(
                reads > 0,
                "keys whose copies differ are read in full (from the index: {from_index})"
            );
        }
    });
}

/// One listing of the whole bucket: each key's size and ETag, and how many records
/// were read and folders listed for it.
async fn list_counted(
    store: &TestStore<SimDrive>,
    drives: &[SimDrive],
) -> (Vec<(String, u64, String)>, u64, u64) {
    let (reads, folders) = (meta_reads(store), folder_listings(drives));
    let page = store
        .list_objects("bkt", &ListQuery::default())
        .await
        .unwrap();
    let listed = (page.objects.iter())
        .map(|o| (o.key.clone(), o.size_bytes, o.etag.clone()))
        .collect();
    (
        listed,
        meta_reads(store) - reads,
        folder_listings(drives) - folders,
    )
}

/// The store on drives that already hold bucket "bkt" (a restart).
async fn store_on(drives: Vec<SimDrive>, parity: usize) -> TestStore<SimDrive> {
    let config = shoal_shards::StoreConfig {
        parity_chunks: Some(parity),
        ..shoal_shards::StoreConfig::default()
    };
    let clock = shoal_io::SimClock::new(1_700_000_000_000_000_000);
    shoal_shards::Store::open(drives, clock, 43, config)
        .await
        .expect("reopen store")
}

/// Waits (a bounded while) until the store's listing indexes hold `bucket` whole.
async fn wait_for_indexes(store: &TestStore<SimDrive>, bucket: &str) {
    for _ in 0..1000 {
        if store.listing_indexes_ready(bucket) {
            return;
        }
        monoio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("the listing indexes of {bucket} were not rebuilt within 5 s");
}
