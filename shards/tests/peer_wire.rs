//! The peer messages in their wire form (`member/peer/wire_form/`) as the TCP link
//! meets them: every request and every answer survives encode → bytes → decode,
//! chunk records are never copied by the conversion, bytes that are not a message are
//! refused with a typed error (never a panic), and a member reached through the wire
//! form answers every verb exactly as the same drive does when called directly.

use crate::common;
use crate::peer_examples;

use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use shoal_io::{AlignedBuf, Drive, Env, MonoioEnv, SimClock, SimDrive};
use shoal_shards::member::peer::link::{CallFuture, LinkError, PeerCall, PeerLink};
use shoal_shards::member::peer::message::{FenceLeft, PeerReply, PeerRequest};
use shoal_shards::member::peer::serve::ServeConn;
use shoal_shards::member::peer::wire_form::{
    DRIVE_INDEX_BYTES, WireFormError, decode_answer, decode_call, encode_answer, encode_call,
    encode_refusal, verb_of,
};
use shoal_shards::member::verbs::walk::WalkRequest;
use shoal_shards::member::verbs::write::{
    Commit, DataSource, Expect, Fence, InstallData, RollBack,
};
use shoal_shards::member::{LocalMember, Member, MemberError, PeerMember, SetMember};
use shoal_shards::{Store, StoreConfig};
use shoal_wire::verb::{
    ErrorKind, VerbError, VerbKind, VerbReply, VerbRequest, encode_reply, encode_request,
};

use peer_examples::{READ_BYTES, answers, requests};

/// A buffer holding `len` bytes of a pattern.
fn filled(len: usize, seed: u8) -> AlignedBuf {
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect();
    let mut buf = AlignedBuf::with_capacity(len);
    buf.extend_from_slice(&bytes);
    buf
}

/// What a socket does to a payload: the same bytes in the receiver's own buffer.
fn copy_of(buf: &AlignedBuf) -> AlignedBuf {
    let mut copy = AlignedBuf::with_capacity(buf.len().max(1));
    copy.extend_from_slice(buf.as_slice());
    copy
}

/// The Debug form, for types without `PartialEq` (`Commit`, `RollBack`).
fn shown<T: std::fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

/// Every request goes out and comes in unchanged, with its drive index, and a
/// `StageAppend`'s blocks arrive as the very buffer the far side read (not copied).
#[test]
fn every_call_round_trips() {
    for request in requests() {
        let appends = matches!(request, PeerRequest::StageAppend { .. });
        let chunks = appends.then(|| filled(8192, 3));
        let chunks_len = chunks.as_ref().map_or(0, AlignedBuf::len);
        let call = PeerCall {
            drive_index: 3,
            request: request.clone(),
            deadline: Duration::from_secs(1),
            route: None,
        };
        let out = encode_call(call, chunks_len).expect("an example encodes");
        assert_eq!(out.body[..DRIVE_INDEX_BYTES], 3u32.to_le_bytes());
        assert!(
            out.bulk.is_none() || !appends,
            "chunks are the caller's payload"
        );
        let payload = out.bulk.or(chunks);
        let sent_at = payload.as_ref().map(|p| p.as_slice().as_ptr());
        let incoming = decode_call(&out.body, payload).expect("decodes");
        assert_eq!(incoming.drive_index, 3);
        assert_eq!(incoming.verb, verb_of(&request));
        assert_eq!(shown(&incoming.request), shown(&request));
        if appends {
            let chunks = incoming.chunks.expect("the blocks");
            assert_eq!(chunks.as_slice(), filled(8192, 3).as_slice());
            assert_eq!(Some(chunks.as_slice().as_ptr()), sent_at, "not copied");
        } else {
            assert!(incoming.chunks.is_none());
        }
    }
}

/// Every answer to every request (its success and each error kind) comes back as it
/// was served; a `ReadRecords`' bytes go out as the server's own buffer.
#[test]
fn every_answer_round_trips() {
    for (request, reply) in answers() {
        let verb = verb_of(&request);
        let read = matches!(request, PeerRequest::ReadRecords { .. }) && reply == PeerReply::Done;
        let served = read.then(|| filled(READ_BYTES as usize, 9));
        let served_at = served.as_ref().map(|b| b.as_slice().as_ptr());
        let (body, payload) = encode_answer(verb, reply.clone(), served);
        if read {
            let sent = payload.as_ref().expect("the records");
            assert_eq!(Some(sent.as_slice().as_ptr()), served_at, "not copied");
        }
        let received = payload.as_ref().map(copy_of);
        let decoded = decode_answer(&request, &body, received.as_ref());
        assert_eq!(decoded.as_ref(), Ok(&reply), "{verb:?} {reply:?}");
    }
}

/// The example tables hold every verb the shards side has and every answer shape, so
/// the round trips above cover them all; the wire's `StageAbandon` is the one verb
/// the shards side has no message for.
#[test]
fn examples_cover_every_verb() {
    let asked: HashSet<VerbKind> = requests().iter().map(verb_of).collect();
    let wire: HashSet<VerbKind> = VerbKind::ALL.iter().copied().collect();
    let missing: Vec<_> = wire.difference(&asked).collect();
    assert_eq!(missing, vec![&VerbKind::StageAbandon]);
    let shapes: HashSet<&str> = answers().iter().map(|(_, reply)| reply.kind()).collect();
    let every = [
        "done", "bytes", "names", "opened", "holds", "count", "walk", "parts", "lock", "failed",
    ];
    assert_eq!(shapes, every.into_iter().collect());
}

/// A lock verb the far node refuses (its connection holds too many, an argument out
/// of range) goes out as the wire's typed `Refused` and comes in as a failure of that
/// node, with the reason.
#[test]
fn a_lock_refusal_is_typed_on_the_wire() {
    let request = peer_examples::requests()
        .into_iter()
        .find(|r| matches!(r, PeerRequest::LockAcquire(_)))
        .expect("a lock example");
    let verb = verb_of(&request);
    let (body, payload) = encode_answer(verb, PeerReply::LockRefused("too many".into()), None);
    assert!(payload.is_none());
    let wire = shoal_wire::verb::decode_reply(&body, Vec::new()).expect("a reply");
    assert!(
        matches!(&wire, VerbReply::Error(VerbError { kind: ErrorKind::Refused, message }) if message == "too many"),
        "{wire:?}"
    );
    let decoded = decode_answer(&request, &body, None);
    assert!(
        matches!(&decoded, Ok(PeerReply::Failed(MemberError::Io(why))) if why.contains("too many")),
        "{decoded:?}"
    );
}

/// Error kinds map one to one, but for the two one side lacks: `NotAsked` goes out as
/// an I/O error, and the wire's `Refused` comes in as one (with its reason).
#[test]
fn errors_map_to_the_nearest_kind() {
    use shoal_shards::member::peer::wire_form::{member_error, verb_error};
    let kinds: Vec<ErrorKind> = peer_examples::errors()
        .iter()
        .map(|e| verb_error(e).kind)
        .collect();
    let expected = &ErrorKind::ALL[..7];
    assert_eq!(kinds, expected, "one wire kind per member error");
    let not_asked = verb_error(&MemberError::NotAsked("dropped out"));
    assert_eq!(not_asked.kind, ErrorKind::Io);
    let refused = VerbError {
        kind: ErrorKind::Refused,
        message: "no open handle 9".to_owned(),
    };
    assert_eq!(
        member_error(refused),
        MemberError::Io("refused by the peer: no open handle 9".to_owned())
    );
}

/// A lease crosses as time left: the far side reads the epoch and the nanoseconds
/// left, and the request's own fence is already expired, so a server that forgot to
/// apply the time left refuses the commit instead of letting it through.
#[test]
fn fence_travels_as_time_left() {
    let request = PeerRequest::Commit {
        commit: Commit {
            bucket: Rc::from("b"),
            key: Rc::from("k"),
            version_id: [1; 16],
            data: None,
            meta: vec![1],
            expect_previous: Expect::Absent,
            fence: Fence {
                epoch: 9,
                expires_at_nanos: 123_456_789_000,
            },
        },
        fence: FenceLeft {
            epoch: 9,
            left_nanos: 5_000_000_000,
        },
    };
    let call = PeerCall {
        drive_index: 0,
        request,
        deadline: Duration::from_secs(1),
        route: None,
    };
    let out = encode_call(call, 0).unwrap();
    let incoming = decode_call(&out.body, out.bulk).unwrap();
    let PeerRequest::Commit { commit, fence } = incoming.request else {
        panic!("not a commit: {:?}", incoming.request);
    };
    assert_eq!((fence.epoch, fence.left_nanos), (9, 5_000_000_000));
    assert_eq!((commit.fence.epoch, commit.fence.expires_at_nanos), (9, 0));
    assert_eq!(fence.at(1_000).expires_at_nanos, 5_000_001_000);
}

/// The request a bad body could not give: a body shorter than the drive index,
/// garbage, every truncation of a real body (but of its zero padding alone), a `StageAppend` without blocks, chunks
/// beside a verb that has none, and the wire's `StageAbandon` are each refused with a
/// typed error; the refusal goes back as an answer the dialer reads as an I/O error.
#[test]
fn refuses_bad_calls() {
    assert_eq!(
        decode_call(&[1, 2], None).unwrap_err(),
        WireFormError::Short { len_bytes: 2 }
    );
    let garbage = [0u8, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3, 4];
    assert!(matches!(
        decode_call(&garbage, None),
        Err(WireFormError::Decode(_))
    ));
    for request in requests() {
        let chunks_len = usize::from(matches!(request, PeerRequest::StageAppend { .. })) * 4096;
        let call = PeerCall {
            drive_index: 1,
            request,
            deadline: Duration::from_secs(1),
            route: None,
        };
        let shown_request = shown(&call.request);
        let out = encode_call(call, chunks_len).unwrap();
        for cut in 0..out.body.len() {
            let payload = out.bulk.as_ref().map(copy_of);
            let payload = payload.or_else(|| (chunks_len > 0).then(|| filled(chunks_len, 1)));
            let result = decode_call(&out.body[..cut], payload);
            assert!(
                result.is_err() || torn_padding(&out.body[cut..]),
                "cut at {cut}"
            );
            if let Ok(call) = result {
                assert_eq!(shown(&call.request), shown_request, "cut at {cut}");
            }
        }
    }
    let append = PeerRequest::StageAppend {
        staged: 1,
        offset_bytes: 0,
    };
    let body = encode_call(call_of(append.clone()), 4096).unwrap().body;
    let refused = decode_call(&body, None).unwrap_err();
    assert!(matches!(refused, WireFormError::Payload(_)), "{refused}");
    assert!(matches!(
        encode_call(call_of(append), 0),
        Err(WireFormError::Payload(_))
    ));
    assert!(matches!(
        encode_call(call_of(PeerRequest::ListBuckets), 4096),
        Err(WireFormError::Payload(_))
    ));
    let abandon = VerbRequest::StageAbandon {
        handle: shoal_wire::verb::Handle(4),
    };
    let mut body = 0u32.to_le_bytes().to_vec();
    body.extend_from_slice(&encode_request(&abandon).unwrap().body);
    let refused = decode_call(&body, None).unwrap_err();
    assert_eq!(refused, WireFormError::Unsupported(VerbKind::StageAbandon));
    let answer = decode_answer(&PeerRequest::ListBuckets, &encode_refusal(&refused), None);
    let Ok(PeerReply::Failed(MemberError::Io(why))) = answer else {
        panic!("a refusal is an I/O error: {answer:?}");
    };
    assert!(why.contains("StageAbandon"), "{why}");
}

/// Whether all a cut took off was the zero padding after the last string: such a body
/// may still decode, and then to the same value (never to another).
fn torn_padding(cut_off: &[u8]) -> bool {
    cut_off.iter().all(|byte| *byte == 0)
}

fn call_of(request: PeerRequest) -> PeerCall {
    PeerCall {
        drive_index: 0,
        request,
        deadline: Duration::from_secs(1),
        route: None,
    }
}

/// An answer of another verb, a read longer than asked, garbage and every
/// truncation of a real answer (but of its zero padding alone) are refused; a bad answer from the server itself (a
/// shape that does not answer the verb) goes out as an I/O error.
#[test]
fn refuses_bad_answers() {
    let commit = encode_reply(&VerbReply::Commit).unwrap().body;
    let refused = decode_answer(&PeerRequest::ListBuckets, &commit, None).unwrap_err();
    assert_eq!(
        refused,
        WireFormError::WrongAnswer {
            asked: VerbKind::ListBuckets,
            answered: VerbKind::Commit
        }
    );
    let read = PeerRequest::ReadRecords {
        records: 1,
        len_bytes: READ_BYTES,
        offset_bytes: 0,
    };
    let body = encode_reply(&VerbReply::ReadRecords).unwrap().body;
    // A read may end early (the file's short last block), never run over.
    let short = filled(4096, 1);
    assert_eq!(
        decode_answer(&read, &body, Some(&short)),
        Ok(PeerReply::Done)
    );
    let long = filled(READ_BYTES as usize + 4096, 1);
    assert!(matches!(
        decode_answer(&read, &body, Some(&long)),
        Err(WireFormError::Payload(_))
    ));
    assert!(decode_answer(&read, &[0xFF; 40], None).is_err());
    for (request, reply) in answers() {
        let (body, payload) = encode_answer(verb_of(&request), reply.clone(), None);
        for cut in 0..body.len() {
            let decoded = decode_answer(&request, &body[..cut], payload.as_ref());
            let same = decoded.as_ref() == Ok(&reply);
            assert!(
                decoded.is_err() || (torn_padding(&body[cut..]) && same),
                "cut at {cut}"
            );
        }
    }
    let (body, _) = encode_answer(VerbKind::Commit, PeerReply::Holds(true), None);
    let answer = decode_answer(&PeerRequest::ListBuckets, &body, None);
    let Ok(PeerReply::Failed(MemberError::Io(why))) = answer else {
        panic!("a mismatched answer is an I/O error: {answer:?}");
    };
    assert!(why.contains("holds"), "{why}");
}

/// Seeded random bytes as bodies and payloads of calls and answers never panic.
#[test]
fn random_bytes_never_panic() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let asked = requests();
    for round in 0..20_000 {
        let len = (next() % 200) as usize;
        let mut body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 0 && body.len() > 8 {
            // A plausible FlatBuffers root offset, to get past the first check.
            body[4..8].copy_from_slice(&12u32.to_le_bytes());
        }
        let payload = (round % 3 == 0).then(|| filled((next() % 5000) as usize + 1, 2));
        let _ = decode_call(&body, payload);
        let request = &asked[round % asked.len()];
        let _ = decode_answer(request, &body, Some(&filled(64, 1)));
    }
}

/// A `PeerLink` through the wire form, as the TCP link does it: the call encoded to a
/// body and payload, copied as a socket would, decoded on the far node and served by
/// `serve.rs` on its members, the answer encoded, copied back, decoded.
struct WireLoop<D: Drive> {
    members: Vec<Rc<Member<D>>>,
    conn: Rc<ServeConn<D>>,
}

impl<D: Drive> PeerLink for WireLoop<D> {
    fn call(&self, call: PeerCall, buf: Option<AlignedBuf>) -> CallFuture {
        let members = self.members.clone();
        let conn = Rc::clone(&self.conn);
        Box::pin(async move {
            let request = call.request.clone();
            let chunks_len = buf.as_ref().map_or(0, AlignedBuf::len);
            let out = match encode_call(call, chunks_len) {
                Ok(out) => out,
                Err(e) => return (Err(LinkError::from(e)), buf),
            };
            let payload = match (&out.bulk, &buf) {
                (Some(bulk), _) => Some(copy_of(bulk)),
                (None, Some(chunks)) if chunks_len > 0 => Some(copy_of(chunks)),
                _ => None,
            };
            let (body, answer) = far_side(&members, &conn, &out.body, payload).await;
            let buf = receive(answer, buf);
            let reply = decode_answer(&request, &body, buf.as_ref()).map_err(LinkError::from);
            (reply, buf)
        })
    }
}

/// The far node: decode, serve, encode (or refuse what it cannot read).
async fn far_side<D: Drive>(
    members: &[Rc<Member<D>>],
    conn: &ServeConn<D>,
    body: &[u8],
    payload: Option<AlignedBuf>,
) -> (Vec<u8>, Option<AlignedBuf>) {
    let call = match decode_call(body, payload) {
        Ok(call) => call,
        Err(e) => return (encode_refusal(&e), None),
    };
    let now_nanos = MonoioEnv.monotonic_nanos();
    let (reply, buf) = conn
        .serve(
            members,
            call.drive_index,
            call.request,
            call.chunks,
            now_nanos,
        )
        .await;
    encode_answer(call.verb, reply, buf)
}

/// An answer's payload as the channel receives it: into the caller's buffer when it
/// fits, else a fresh one; no payload leaves the caller's buffer as it was.
fn receive(answer: Option<AlignedBuf>, buf: Option<AlignedBuf>) -> Option<AlignedBuf> {
    let Some(answer) = answer else {
        return buf;
    };
    let mut target = match buf {
        Some(buf) if buf.capacity() >= answer.len() => buf,
        _ => AlignedBuf::with_capacity(answer.len()),
    };
    target.set_len(0);
    target.extend_from_slice(answer.as_slice());
    Some(target)
}

/// Two drives formatted alike (the same seed and name): what one answers directly, the
/// other must answer through the wire.
async fn twin_drives() -> (SimDrive, SimDrive) {
    let mut drives = Vec::new();
    for _ in 0..2 {
        let drive = SimDrive::new("d0", 5);
        let config = StoreConfig {
            parity_chunks: Some(0),
            ..StoreConfig::default()
        };
        let clock = SimClock::new(1_700_000_000_000_000_000);
        let store = Store::open(vec![drive.clone()], clock, 42, config).await;
        drop(store.expect("format"));
        drives.push(drive);
    }
    let second = drives.pop().unwrap();
    (drives.pop().unwrap(), second)
}

/// A request decoded on the far side and run through `serve.rs` on a `LocalMember`
/// over a `SimDrive` answers what the direct call on a twin drive answers, verb by
/// verb: reads, writes, fenced writes refused as stale, handles, records, walks,
/// uploads and errors.
#[test]
fn served_through_the_wire_answers_as_the_direct_call() {
    common::run(async {
        let (direct_drive, far_drive) = twin_drives().await;
        let lease = Duration::from_secs(30);
        let direct = LocalMember::with_leases(direct_drive, MonoioEnv, lease);
        let far = LocalMember::with_leases(far_drive, MonoioEnv, lease);
        let link = Rc::new(WireLoop {
            members: vec![Rc::new(Member::Local(far))],
            conn: Rc::new(ServeConn::default()),
        });
        let now = Rc::new(|| MonoioEnv.monotonic_nanos());
        let peer = PeerMember::new("node1/d0", 0, link, now, Duration::from_secs(10));
        let expected = script(&direct).await;
        let through_wire = script(&peer).await;
        for (direct, wire) in expected.iter().zip(&through_wire) {
            assert_eq!(direct, wire);
        }
        assert_eq!(expected.len(), through_wire.len());
        // The script did real work, not only fail alike.
        let all = expected.join("\n");
        for seen in [
            "read_records: Ok(true)",
            "Err(Stale)",
            "Err(NotFound)",
            "install stale: Err(Stale)",
            "install: Ok(())",
            "installed holds: Ok(true)",
        ] {
            assert!(all.contains(seen), "{seen} missing from:\n{all}");
        }
        assert!(
            all.contains("list_parts: Ok([PartInfo { number: 1"),
            "{all}"
        );
        assert!(
            all.contains("walk: Ok(WalkBatch { entries: [Key(\"k1\")"),
            "{all}"
        );
    });
}

fn fence(epoch: u64) -> Fence {
    let expires_at_nanos = MonoioEnv.monotonic_nanos() + 60_000_000_000;
    Fence {
        epoch,
        expires_at_nanos,
    }
}

/// Every verb once or more, each result written down as `verb: result`.
async fn script<M: SetMember>(member: &M) -> Vec<String> {
    let mut log = Vec::new();
    log.push(format!(
        "identity: {}",
        member.read_identity().await.is_ok()
    ));
    log.push(format!(
        "read_meta: {:?}",
        member.read_meta("bkt", "k1").await
    ));
    buckets(member, &mut log).await;
    objects(member, &mut log).await;
    records(member, &mut log).await;
    uploads(member, &mut log).await;
    removals(member, &mut log).await;
    log
}

async fn buckets<M: SetMember>(member: &M, log: &mut Vec<String>) {
    let made = member.make_bucket("bkt", b"bucket record".to_vec()).await;
    log.push(format!("make_bucket: {made:?}"));
    log.push(format!(
        "read_bucket: {:?}",
        member.read_bucket("bkt").await
    ));
    log.push(format!("list_buckets: {:?}", member.list_buckets().await));
    let tags = member.write_bucket_tags("bkt", b"tags".to_vec()).await;
    log.push(format!("write_bucket_tags: {tags:?}"));
    log.push(format!("tags: {:?}", member.read_bucket_tags("bkt").await));
    log.push(format!("no bucket: {:?}", member.read_bucket("none").await));
}

async fn objects<M: SetMember>(member: &M, log: &mut Vec<String>) {
    let staged = member.stage_begin("stg1", 1, 8192).await;
    log.push(format!("stage_begin: {:?}", staged.is_ok()));
    let staged = staged.expect("staged");
    let (appended, _) = member.stage_append(&staged, filled(8192, 7), 0).await;
    log.push(format!("stage_append: {appended:?}"));
    log.push(format!(
        "stage_finish: {:?}",
        member.stage_finish(staged, 8192).await
    ));
    let commit = Commit {
        bucket: Rc::from("bkt"),
        key: Rc::from("k1"),
        version_id: [1; 16],
        data: Some(DataSource::Staging(Rc::from("stg1"))),
        meta: b"meta v1".to_vec(),
        expect_previous: Expect::Absent,
        fence: fence(1),
    };
    log.push(format!("commit: {:?}", member.commit(commit.clone()).await));
    log.push(format!("again: {:?}", member.commit(commit).await));
    log.push(format!(
        "read_meta: {:?}",
        member.read_meta("bkt", "k1").await
    ));
    let v1 = Expect::of(Some(b"meta v1"));
    let write = member
        .write_meta("bkt", "k1", b"meta v2", v1, fence(1))
        .await;
    log.push(format!("write_meta: {write:?}"));
    let old = member
        .write_meta("bkt", "k1", b"meta v3", v1, fence(0))
        .await;
    log.push(format!("old epoch: {old:?}"));
    let holds =
        member.holds_version_data("bkt", "k1", [1; 16], Rc::from(vec!["part.1".to_owned()]));
    log.push(format!("holds: {:?}", holds.await));
    install(member, log).await;
    let walk = WalkRequest {
        prefix: String::new(),
        start_after: String::new(),
        skip_under: None,
        collapse_slash: true,
        limit: 10,
        summaries_for: None,
    };
    log.push(format!("walk: {:?}", member.walk("bkt", &walk).await));
    log.push(format!("no walk: {:?}", member.walk("none", &walk).await));
}

/// Healing's verb: a staged file installed into version 1's folder under a part
/// file's name, fenced on the record held; refused on another record or a bad name.
async fn install<M: SetMember>(member: &M, log: &mut Vec<String>) {
    let name = shoal_shards::record::meta::PartInfo {
        number: 2,
        seq: 3,
        size_bytes: 8192,
        md5: [0; 16],
        checksum: Vec::new(),
    }
    .file_name();
    let staged = member.stage_begin("heal1", 1, 8192).await.expect("staged");
    let (appended, _) = member.stage_append(&staged, filled(8192, 9), 0).await;
    log.push(format!("heal stage: {appended:?}"));
    log.push(format!(
        "heal finish: {:?}",
        member.stage_finish(staged, 8192).await
    ));
    let install = |staging: &str, files: Vec<String>, expect: Expect| InstallData {
        bucket: Rc::from("bkt"),
        key: Rc::from("k1"),
        version_id: [1; 16],
        staging: Rc::from(staging),
        files,
        expect,
        fence: fence(1),
    };
    let v2 = Expect::of(Some(b"meta v2"));
    let stale = member
        .install_data(install("heal1", vec![name.clone()], Expect::Absent))
        .await;
    log.push(format!("install stale: {stale:?}"));
    let bad = member
        .install_data(install("heal1", vec!["../escape".to_owned()], v2))
        .await;
    log.push(format!("install bad name: {:?}", bad.is_err()));
    let installed = member
        .install_data(install("heal1", vec![name.clone()], v2))
        .await;
    log.push(format!("install: {installed:?}"));
    let holds = member.holds_version_data("bkt", "k1", [1; 16], Rc::from(vec![name]));
    log.push(format!("installed holds: {:?}", holds.await));
}

async fn records<M: SetMember>(member: &M, log: &mut Vec<String>) {
    let opened = member.open_records("bkt", "k1", [1; 16], "part.1").await;
    log.push(format!("open_records: {:?}", opened.is_ok()));
    let Ok(records) = opened else { return };
    let (read, buf) = member
        .read_records(&records, AlignedBuf::with_capacity(8192), 0)
        .await;
    let same = buf.as_slice() == filled(8192, 7).as_slice();
    log.push(format!("read_records: {read:?}"));
    log.push(format!("read_records: {:?}", read.map(|()| same)));
    member.close_records(records).await;
    let missing = member.open_records("bkt", "k1", [1; 16], "part.9").await;
    log.push(format!("missing part: {:?}", missing.err()));
}

async fn uploads<M: SetMember>(member: &M, log: &mut Vec<String>) {
    let written = member.write_upload("bkt", "upl1", b"upload record").await;
    log.push(format!("write_upload: {written:?}"));
    log.push(format!(
        "read_upload: {:?}",
        member.read_upload("bkt", "upl1").await
    ));
    let staged = member.stage_begin("stg2", 1, 4096).await.expect("staged");
    let (appended, _) = member.stage_append(&staged, filled(4096, 8), 0).await;
    log.push(format!("stage_append: {appended:?}"));
    log.push(format!(
        "stage_finish: {:?}",
        member.stage_finish(staged, 4096).await
    ));
    let part = peer_examples::part(1);
    let put = member.put_part("bkt", "upl1", "stg2", &part).await;
    log.push(format!("put_part: {put:?}"));
    log.push(format!(
        "list_parts: {:?}",
        member.list_parts("bkt", "upl1").await
    ));
    log.push(format!(
        "list_uploads: {:?}",
        member.list_uploads("bkt").await
    ));
    log.push(format!(
        "upload buckets: {:?}",
        member.list_upload_buckets().await
    ));
    let removed = member.remove_part("bkt", "upl1", &part).await;
    log.push(format!("remove_part: {removed:?}"));
    log.push(format!(
        "remove_upload: {:?}",
        member.remove_upload("bkt", "upl1").await
    ));
    let forgot = member.forget_upload_bucket("bkt").await;
    log.push(format!("forget_upload_bucket: {forgot:?}"));
    let pruned = member.prune_completed("bkt", "k1", &[1; 16], &[part]).await;
    log.push(format!("prune_completed: {pruned:?}"));
}

async fn removals<M: SetMember>(member: &M, log: &mut Vec<String>) {
    let v2 = Expect::of(Some(b"meta v2"));
    let stale = member
        .delete_version("bkt", "k1", Expect::Absent, fence(2))
        .await;
    log.push(format!("delete stale: {stale:?}"));
    let back = RollBack {
        bucket: Rc::from("bkt"),
        key: Rc::from("k1"),
        version_id: [1; 16],
        committed: v2,
        restore: Some(Rc::from(&b"meta v1"[..])),
        give_back: None,
        fence: fence(2),
    };
    log.push(format!("roll_back: {:?}", member.roll_back(back).await));
    log.push(format!(
        "read_meta: {:?}",
        member.read_meta("bkt", "k1").await
    ));
    let v1 = Expect::of(Some(b"meta v1"));
    let deleted = member.delete_version("bkt", "k1", v1, fence(3)).await;
    log.push(format!("delete_version: {deleted:?}"));
    let now_unix_nanos = 1_700_000_000_000_000_000;
    let stale = member.remove_stale_versions("bkt", "k1", [2; 16], now_unix_nanos, fence(3));
    log.push(format!("remove_stale_versions: {:?}", stale.await));
    let retired = member
        .retire_versions("bkt", "k1", now_unix_nanos, fence(3))
        .await;
    log.push(format!("retire_versions: {retired:?}"));
    let swept = member.sweep_trash(now_unix_nanos + 1, 0).await;
    log.push(format!("sweep_trash: {swept:?}"));
    log.push(format!(
        "stage_discard: {:?}",
        member.stage_discard("stg9").await
    ));
    let record = member.remove_bucket_record("bkt").await;
    log.push(format!("remove_bucket_record: {record:?}"));
    log.push(format!(
        "remove_bucket: {:?}",
        member.remove_bucket("bkt").await
    ));
    log.push(format!("list_buckets: {:?}", member.list_buckets().await));
}
