//! Reading fragmented MP4 back (for closing a segment a crash left): box headers, each
//! track's timescale from the `moov`, and where a `moof`'s samples end.

use mp4_atom::{Decode, Moof, Moov};

/// The type of the box whose header starts `bytes`, and the box's size.
pub fn box_header(bytes: &[u8]) -> Option<([u8; 4], u64)> {
    let size = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
    let kind: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
    let size = match size {
        1 => u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?),
        size => u64::from(size),
    };
    Some((kind, size))
}

/// Reads the media time (ms) a fragment ends at: its tracks' `tfdt` plus their samples'
/// durations, from a whole `moof` box, given each track's timescale.
pub fn fragment_end_ms(moof: &[u8], timescales: &[(u32, u64)]) -> Option<u64> {
    let moof = Moof::decode(&mut &moof[..]).ok()?;
    moof.traf
        .iter()
        .filter_map(|traf| {
            let scale = timescales
                .iter()
                .find(|(id, _)| *id == traf.tfhd.track_id)?
                .1;
            let base = traf.tfdt.as_ref()?.base_media_decode_time;
            let durations: u64 = traf
                .trun
                .iter()
                .flat_map(|t| t.samples.iter())
                .map(|e| {
                    u64::from(
                        e.duration
                            .or(traf.tfhd.default_sample_duration)
                            .unwrap_or(0),
                    )
                })
                .sum();
            Some((base + durations) * 1000 / scale)
        })
        .max()
}

/// Each track's id and timescale, from a whole `moov` box.
pub fn track_timescales(moov: &[u8]) -> Option<Vec<(u32, u64)>> {
    let moov = Moov::decode(&mut &moov[..]).ok()?;
    Some(
        moov.trak
            .iter()
            .map(|t| (t.tkhd.track_id, u64::from(t.mdia.mdhd.timescale)))
            .collect(),
    )
}
