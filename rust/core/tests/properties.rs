// SPDX-License-Identifier: GPL-2.0

//! Property tests of the functional core, on the code the module runs.

use coretakeover_core::config::NodeConfig;
use coretakeover_core::ids::{ClusterId, NodeId, ParseIdError};
use coretakeover_core::keys::{RegistrationKey, KEY_TAG};
use proptest::prelude::*;

fn cluster() -> impl Strategy<Value = ClusterId> {
    (1..=u32::MAX).prop_map(|v| ClusterId::new(v).unwrap())
}

fn node() -> impl Strategy<Value = NodeId> {
    (1..=u16::MAX).prop_map(|v| NodeId::new(v).unwrap())
}

proptest! {
    #[test]
    fn key_decodes_to_its_ids(c in cluster(), n in node()) {
        let key = RegistrationKey::derive(c, n);
        prop_assert_eq!(key.decode(), Some((c, n)));
        prop_assert_ne!(key.get(), 0);
        prop_assert_eq!((key.get() >> 48) as u16, KEY_TAG);
        prop_assert_eq!(u64::from_be_bytes(key.to_wire()), key.get());
    }

    #[test]
    fn distinct_nodes_get_distinct_keys(c1 in cluster(), n1 in node(), c2 in cluster(), n2 in node()) {
        let same = (c1, n1) == (c2, n2);
        prop_assert_eq!(RegistrationKey::derive(c1, n1) == RegistrationKey::derive(c2, n2), same);
    }

    #[test]
    fn any_raw_key_that_decodes_rederives(raw in any::<u64>()) {
        if let Some((c, n)) = RegistrationKey::from_raw(raw).decode() {
            prop_assert_eq!(RegistrationKey::derive(c, n).get(), raw);
        }
    }

    #[test]
    fn config_word_roundtrips(c in proptest::option::of(cluster()), n in proptest::option::of(node())) {
        let config = NodeConfig { cluster: c, node: n };
        prop_assert_eq!(NodeConfig::unpack(config.pack()), config);
        prop_assert_eq!(config.registration_key().is_some(), c.is_some() && n.is_some());
    }

    #[test]
    fn ids_print_and_parse_back(c in cluster(), n in node()) {
        prop_assert_eq!(ClusterId::parse(&c.to_string()), Ok(c));
        prop_assert_eq!(ClusterId::parse(&format!("{:#x}\n", c.get())), Ok(c));
        prop_assert_eq!(NodeId::parse(&n.to_string()), Ok(n));
    }

    #[test]
    fn parsing_never_panics_and_accepts_only_ids(text in "\\PC{0,24}") {
        match ClusterId::parse(&text) {
            Ok(c) => prop_assert_eq!(ClusterId::parse(&c.to_string()), Ok(c)),
            Err(ParseIdError::OutOfRange { max }) => prop_assert_eq!(max, u64::from(u32::MAX)),
            Err(_) => {}
        }
    }
}

mod common;
use common::HostCrc;
use coretakeover_core::crc::Crc32c;
use coretakeover_core::header::{newest, DumpState, Header, RamRange, HEADER_SIZE, MAX_RANGES};
use coretakeover_core::label::{Label, LABEL_SIZE};
use coretakeover_core::plan::{collect_ranges, saved_bytes, PageCursor, Plan, PAGE_SIZE};

fn label() -> impl Strategy<Value = Label> {
    (cluster(), node(), any::<[u8; 16]>(), any::<u64>(), any::<u64>()).prop_map(|(cluster, node, disk_uuid, usable_bytes, created_unix)| {
        Label { cluster, node, disk_uuid, usable_bytes, created_unix }
    })
}

/// Sorted (first byte, last byte) System RAM resources with gaps.
fn raw_ranges() -> impl Strategy<Value = Vec<(u64, u64)>> {
    proptest::collection::vec((0u64..1 << 24, 1u64..1 << 26), 1..12).prop_map(|parts| {
        let mut at = 0u64;
        parts
            .into_iter()
            .map(|(gap, len)| {
                let first = at + gap;
                at = first + len + 1;
                (first, first + len - 1)
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn labels_round_trip_and_every_bit_flip_is_caught(l in label(), bit in 0usize..LABEL_SIZE * 8) {
        let bytes = l.encode(&HostCrc);
        prop_assert_eq!(Label::decode(&bytes, &HostCrc), Ok(l));
        let mut damaged = bytes;
        damaged[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(Label::decode(&damaged, &HostCrc).is_err());
    }

    #[test]
    fn plans_cover_ram_exactly_and_headers_keep_them(
        raw in raw_ranges(),
        pages_per_chunk in 1u32..=256,
        disk_mib in 2u64..2048,
        watermark_permille in 0u64..=1000,
        generation in 0u64..1 << 40,
    ) {
        let mut ranges = [RamRange::default(); MAX_RANGES];
        let n = collect_ranges(raw.iter().copied(), &mut ranges).unwrap();
        let chunk = pages_per_chunk * PAGE_SIZE as u32;
        let Ok(plan) = Plan::new(&mut ranges[..n], chunk, disk_mib << 20) else { return Ok(()) };
        // Every resource byte is inside some page-aligned range.
        for (first, last) in &raw {
            prop_assert!(plan.ranges().iter().any(|r| r.phys <= *first && *last < r.phys + r.len));
        }
        prop_assert!(plan.capacity() <= plan.dump_bytes());
        prop_assert!(plan.data_offset() + plan.capacity() <= disk_mib << 20);
        prop_assert_eq!(plan.capacity() % PAGE_SIZE, 0);
        let pages: Vec<u64> = PageCursor::new(plan.ranges(), plan.capacity()).collect();
        prop_assert_eq!(pages.len() as u64, plan.capacity() / PAGE_SIZE);
        prop_assert!(pages.windows(2).all(|w| w[0] < w[1]));
        let watermark = plan.capacity() / PAGE_SIZE * watermark_permille / 1000 * PAGE_SIZE;
        let saved: u64 = plan.ranges().iter().map(|r| saved_bytes(r, plan.data_offset(), watermark)).sum();
        prop_assert_eq!(saved, watermark);

        let mut h = Header::new(vec![0u8; HEADER_SIZE]).unwrap();
        h.set_plan(&plan).unwrap();
        h.set_state(DumpState::Dumping);
        h.set_watermark(watermark);
        h.set_generation(generation);
        h.seal(&HostCrc);
        let parsed = Header::parse(h.as_bytes(), &HostCrc).unwrap();
        prop_assert_eq!(parsed.ranges().collect::<Vec<_>>(), plan.ranges().to_vec());
        prop_assert_eq!(parsed.watermark(), watermark);
        prop_assert_eq!(parsed.chunks_written(), watermark.div_ceil(u64::from(chunk)));
    }

    #[test]
    fn resealed_garbage_fields_never_panic_and_never_pass_inconsistent(
        pokes in proptest::collection::vec((0usize..600, any::<u8>()), 1..20),
    ) {
        let mut ranges = [RamRange::default(); MAX_RANGES];
        let n = collect_ranges([(0x1000, 0x9fbff), (0x100000, 0x1fffffff)], &mut ranges).unwrap();
        let plan = Plan::new(&mut ranges[..n], 1 << 17, 1 << 30).unwrap();
        let mut h = Header::new(vec![0u8; HEADER_SIZE]).unwrap();
        h.set_plan(&plan).unwrap();
        let mut bytes = h.into_inner();
        for (at, value) in pokes {
            bytes[at] = value;
        }
        let mut h = Header::from_unchecked(bytes);
        h.seal(&HostCrc);
        if let Ok(p) = Header::parse(h.as_bytes(), &HostCrc) {
            prop_assert!(p.watermark() <= p.capacity() && p.capacity() <= p.dump_bytes());
            prop_assert!(p.range_count() <= MAX_RANGES);
            let total: u64 = p.ranges().map(|r| r.len).sum();
            prop_assert!(p.range_count() == 0 || total == p.dump_bytes());
        }
    }

    #[test]
    fn the_newest_valid_copy_wins(g in 1u64..1 << 40, tear_newer in any::<bool>()) {
        let make = |generation: u64| {
            let mut h = Header::new(vec![0u8; HEADER_SIZE]).unwrap();
            h.set_generation(generation);
            h.seal(&HostCrc);
            h.into_inner()
        };
        let older = make(g - 1);
        let mut newer = make(g);
        if tear_newer {
            newer[HEADER_SIZE / 2..].fill(0);
        }
        let copies = [Header::parse(older, &HostCrc), Header::parse(newer, &HostCrc)];
        let best = newest([&copies[0], &copies[1]]).unwrap();
        let expected = if tear_newer { g - 1 } else { g };
        prop_assert_eq!(copies[best].as_ref().unwrap().generation(), expected);
    }

    #[test]
    fn checksum_of_concatenation(a in proptest::collection::vec(any::<u8>(), 0..300), b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let joined: Vec<u8> = a.iter().chain(&b).copied().collect();
        prop_assert_eq!(HostCrc.checksum2(&a, &b), HostCrc.checksum(&joined));
    }
}

use coretakeover_core::heartbeat::{Heartbeat, HeartbeatError, Liveness, HEARTBEAT_SIZE};
use coretakeover_core::partner::{decide, AutoTakeover, PartnerWatch, Reading, Reason, Verdict};

fn heartbeat() -> impl Strategy<Value = Heartbeat> {
    (any::<u32>(), any::<u16>(), any::<bool>(), any::<u32>(), any::<u64>(), any::<u64>(), any::<u16>()).prop_map(
        |(cluster, node, stopped, interval_ms, sequence, written_ns, holds_disks_of)| Heartbeat {
            cluster,
            node,
            liveness: if stopped { Liveness::Stopped } else { Liveness::Alive },
            interval_ms,
            sequence,
            written_ns,
            holds_disks_of,
        },
    )
}

proptest! {
    #[test]
    fn heartbeats_round_trip_and_every_bit_flip_is_caught(b in heartbeat(), bit in 0usize..HEARTBEAT_SIZE * 8) {
        let bytes = b.encode(&HostCrc);
        prop_assert_eq!(Heartbeat::decode(&bytes, &HostCrc), Ok(b));
        let mut damaged = bytes;
        damaged[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(Heartbeat::decode(&damaged, &HostCrc).is_err());
        prop_assert_eq!(Heartbeat::decode(&[0u8; 4096], &HostCrc), Err(HeartbeatError::None));
    }

    /// Whatever a partner's disk shows over time: no automatic takeover
    /// before it was seen alive, unless the beacon is up; the beacon always
    /// means takeover; a live partner beating faster than the timeout is
    /// never declared stale.
    #[test]
    fn the_watch_never_takes_over_a_live_partner(
        steps in proptest::collection::vec((0u64..400, any::<bool>(), 0u8..10), 1..60),
        stale_after in 500u64..2000,
    ) {
        let mut w = PartnerWatch::new(0);
        let (mut now, mut seq, mut seen_move) = (0u64, 100u64, false);
        let mut last_move = 0u64;
        for (dt, beats, what) in steps {
            now += dt;
            if beats { seq += 1; }
            let reading = match what {
                0 => Reading { header_state: Some(DumpState::Dumping), heartbeat: None },
                1 => Reading::default(),
                _ => Reading {
                    header_state: Some(DumpState::Armed),
                    heartbeat: Some(Heartbeat { cluster: 7, node: 1, liveness: Liveness::Alive, interval_ms: 100, sequence: seq, written_ns: 0, holds_disks_of: 0 }),
                },
            };
            let verdict = w.observe(&reading, now, stale_after);
            if what == 0 {
                prop_assert_eq!(verdict, Verdict::Panicked);
                prop_assert_eq!(decide(verdict, AutoTakeover::ALL, false), Some(Reason::PanicBeacon));
                continue;
            }
            if what >= 2 && beats && seen_move { last_move = now; }
            if what >= 2 && beats { seen_move = true; }
            if let Verdict::Stale { silent_ms } = verdict {
                prop_assert!(silent_ms > stale_after);
                prop_assert!(now - last_move > stale_after || last_move == 0);
            }
            if decide(verdict, AutoTakeover::ALL, false).is_some() {
                let stale = matches!(verdict, Verdict::Stale { .. });
                prop_assert!(stale);
            }
        }
    }
}

mod identity {
    use coretakeover_core::identity::{due_this_turn, Identity, PathCheck, CHECKS_PER_TURN, TRUST_MS};
    use proptest::prelude::*;

    fn identity() -> impl Strategy<Value = Identity> {
        prop_oneof![
            Just(Identity::Unchecked),
            any::<u32>().prop_map(|t| Identity::Service { at_ms: u64::from(t) }),
            any::<u32>().prop_map(|t| Identity::Labeled { at_ms: u64::from(t) }),
            any::<u32>().prop_map(|t| Identity::Unreadable { at_ms: u64::from(t) }),
        ]
    }

    proptest! {
        // The critical path preempts a disk without reading its label only
        // on a recent "no label"; a label, however old, is never preempted.
        #[test]
        fn preempted_unread_only_on_a_recent_service_check(id in identity(), now in any::<u32>()) {
            let now = u64::from(now);
            let recent_service = matches!(id, Identity::Service { at_ms } if now.saturating_sub(at_ms) <= TRUST_MS);
            let labeled = matches!(id, Identity::Labeled { .. });
            match id.on_path(now) {
                PathCheck::Preempt => prop_assert!(recent_service),
                PathCheck::Refuse => prop_assert!(labeled),
                PathCheck::ReadLabel => prop_assert!(!labeled && !recent_service),
            }
        }

        // A turn picks distinct due disks, at most CHECKS_PER_TURN, and
        // leaves none due that is older than one it picked.
        #[test]
        fn a_turn_picks_the_oldest_due(ids in proptest::collection::vec(identity(), 0..40), now in any::<u32>()) {
            let now = u64::from(now);
            let mut out = [usize::MAX; CHECKS_PER_TURN];
            let n = due_this_turn(&ids, now, &mut out);
            let picked = &out[..n];
            let due: Vec<usize> = (0..ids.len()).filter(|&i| ids[i].due(now)).collect();
            prop_assert_eq!(n, due.len().min(CHECKS_PER_TURN));
            for (k, &i) in picked.iter().enumerate() {
                prop_assert!(ids[i].due(now));
                prop_assert!(!picked[..k].contains(&i));
            }
            let age = |i: usize| ids[i].checked_at_ms().map_or(0, |t| t + 1);
            if let Some(newest_picked) = picked.iter().map(|&i| age(i)).max() {
                for &i in due.iter().filter(|i| !picked.contains(i)) {
                    prop_assert!(age(i) >= newest_picked);
                }
            }
        }
    }
}

mod page_filter {
    use coretakeover_core::header::RamRange;
    use coretakeover_core::pagefilter::{Census, Class, Filter};
    use coretakeover_core::plan::{PageMap, ScanCursor};
    use coretakeover_core::scheme::{replan, Model, Position};
    use proptest::prelude::*;

    /// Two RAM ranges of `a` and `b` pages, a gap between them.
    fn ranges(a: u64, b: u64) -> [RamRange; 2] {
        [
            RamRange { phys: 0x1000, len: a * 4096, disk_offset: 0 },
            RamRange { phys: 0x1000 + (a + 7) * 4096, len: b * 4096, disk_offset: 0 },
        ]
    }

    proptest! {
        /// What the panic path writes (each page of the scan in at most one
        /// pass, its bit set, the page appended to the stream) is exactly
        /// what the reader's runs give back, page by page, in order.
        #[test]
        fn the_page_map_gives_back_the_stream_the_scan_wrote(
            a in 1u64..300, b in 1u64..300, keep in proptest::collection::vec(0u8..3, 600),
        ) {
            let r = ranges(a, b);
            let n = (a + b) as usize;
            let mut bits = [vec![0u8; n.div_ceil(8)], vec![0u8; n.div_ceil(8)]];
            let mut stream = Vec::new();
            for (pass, index, phys) in ScanCursor::new(&r) {
                // keep[i]: 0 dropped, 1 kernel (pass 0), 2 other (pass 1).
                if usize::from(keep[index as usize]) == pass + 1 {
                    bits[pass][index as usize / 8] |= 1 << (index % 8);
                    stream.push(phys);
                }
            }
            let map = PageMap::new(&r, [&bits[0], &bits[1]], [a + b; 2]).unwrap();
            let mut back = Vec::new();
            for run in map.runs() {
                prop_assert_eq!(run.stream_page, back.len() as u64);
                back.extend((0..run.pages).map(|p| run.phys + p * 4096));
            }
            prop_assert_eq!(back, stream);
        }

        /// The model: a richer filter never predicts less time or fewer
        /// bytes; the choice fits when it says so; a re-plan only ever goes
        /// leaner, and never when the dump runs on the model's pace within
        /// its budget.
        #[test]
        fn the_model_orders_filters_and_replans_only_leaner(
            census in proptest::array::uniform5(0u64..1 << 22),
            census_ns in 0u64..1 << 36,
            rate in 1u64..1 << 32,
            budget in 0u64..100_000,
            pass in 0usize..3,
            visited_share in 0u64..=100,
            slowdown in 1u64..50,
            codec in proptest::option::of((proptest::array::uniform3(0u64..=2048), proptest::array::uniform3(0u64..1 << 32))),
        ) {
            let census: Census = census;
            let pages: u64 = census[..4].iter().sum::<u64>().max(1);
            let plain = Model::new(pages, census, census_ns, rate);
            // With a codec or without: the same laws.
            let m = match codec {
                Some((store, per_ms)) => plain.with_codec(store, per_ms),
                None => plain,
            };
            for w in Filter::ALL.windows(2) {
                prop_assert!(m.predict_ms(w[0]) >= m.predict_ms(w[1]));
                prop_assert!(m.bytes(w[0]) >= m.bytes(w[1]));
                prop_assert!(m.stored_bytes(w[0]) >= m.stored_bytes(w[1]));
            }
            for f in Filter::ALL {
                // A codec never stores more than the stream.
                prop_assert!(m.stored_bytes(f) <= m.bytes(f));
            }
            let (chosen, fits) = m.choose(Filter::All, budget, u64::MAX);
            if fits {
                prop_assert!(budget == 0 || m.predict_ms(chosen) <= budget);
            } else {
                prop_assert_eq!(chosen, Filter::Kernel);
            }
            let at = Position { pass, visited: pages * visited_share / 100 };
            let visited = pass as u64 * pages + at.visited;
            let written = census[Class::Kernel as usize] * 4096 * visited_share / 100;
            let (v, w) = m.done(Filter::All, visited, written);
            for f in Filter::ALL {
                if let Some(s) = replan(&m, f, budget, at, v + w * slowdown, visited, written) {
                    prop_assert!(s.to as u32 > f as u32);
                    prop_assert!(s.projected_ms > budget);
                }
            }
            if budget > 0 && v + w + m.remaining_ms(chosen, at) <= budget {
                prop_assert_eq!(replan(&m, chosen, budget, at, v + w, visited, written), None);
            }
        }
    }
}

mod chunk_table {
    use coretakeover_core::codec::{ChunkEntry, ChunkTable, Codec, ENTRY_SIZE};
    use proptest::prelude::*;

    proptest! {
        /// What the panic path lays out (chunks stored back to back on
        /// 4 KiB boundaries, each at most its stream bytes, a raw one
        /// exactly them) reads back entry for entry; any damage to an
        /// entry's bytes is refused or still locates bytes inside the area.
        #[test]
        fn the_chunk_table_gives_back_what_the_dump_wrote(
            chunk_pages in 1u32..64,
            stored in proptest::collection::vec((0u8..3, 1u32..=100), 1..80),
            tail_pages in 1u64..64,
            flip in any::<(usize, u8)>(),
        ) {
            let chunk = chunk_pages * 4096;
            let n = stored.len() as u64;
            let tail = (tail_pages * 4096).min(u64::from(chunk));
            let watermark = (n - 1) * u64::from(chunk) + tail;
            let mut table = vec![0u8; stored.len() * ENTRY_SIZE];
            let mut entries = Vec::new();
            let mut area = 0u64;
            for (i, (codec, percent)) in stored.iter().enumerate() {
                let len = if i as u64 == n - 1 { tail } else { u64::from(chunk) };
                let codec = Codec::from_u32(u32::from(*codec)).unwrap();
                let stored_len = if codec == Codec::None { len } else { (len * u64::from(*percent) / 100).max(1) };
                let e = ChunkEntry { checksum: i as u32, stored_len: stored_len as u32, disk_page: (area / 4096) as u32, codec, tag: [i as u8; 16] };
                e.encode(&mut table[i * ENTRY_SIZE..]);
                entries.push((len, e));
                area += e.padded_len();
            }
            let t = ChunkTable::new(&table, chunk, watermark, area).unwrap();
            prop_assert_eq!(t.len(), n);
            for (i, (len, e)) in entries.iter().enumerate() {
                let c = t.chunk(i as u64).unwrap().unwrap();
                prop_assert_eq!((c.start, c.len, c.entry), (i as u64 * u64::from(chunk), *len, *e));
            }
            let (at, bit) = (flip.0 % table.len(), flip.1 % 8);
            table[at] ^= 1 << bit;
            let t = ChunkTable::new(&table, chunk, watermark, area).unwrap();
            if let Some(Ok(c)) = t.chunk((at / ENTRY_SIZE) as u64) {
                prop_assert!(c.disk + u64::from(c.entry.stored_len) <= area);
                prop_assert!(u64::from(c.entry.stored_len) <= c.len);
            }
        }
    }
}
