//! The MP4 init segment's parts: a track's decoder configuration read from the stream's
//! sequence header (H.264's AVCDecoderConfigurationRecord with the picture size of its SPS,
//! AAC's AudioSpecificConfig), and the `trak` box that carries it verbatim.

use bytes::Bytes;
use mp4_atom::{
    Audio, Avc1, Avcc, Decode, Dinf, Dref, Esds, Hdlr, Mdhd, Mdia, Minf, Mp4a, Smhd, Stbl, Stco,
    Stsc, Stsd, Stsz, Stts, Tkhd, Trak, Url, Visual, Vmhd, esds,
};

use crate::media::{TYPE_AUDIO, TYPE_VIDEO};

/// Why a stream cannot be written as MP4 here (it is recorded as FLV instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    #[error("video codec {0} is not recorded as MP4 (H.264 is)")]
    Video(u8),
    #[error("audio format {0} is not recorded as MP4 (AAC is)")]
    Audio(u8),
    #[error("a decoder configuration record cannot be read: {0}")]
    BadConfig(String),
}

/// A track's decoder configuration, from its sequence header tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackConfig {
    /// The AVCDecoderConfigurationRecord, and the picture size its SPS gives.
    H264 {
        record: Bytes,
        width: u16,
        height: u16,
    },
    /// The AudioSpecificConfig, and the sample rate and channels it gives.
    Aac {
        config: Bytes,
        rate: u32,
        channels: u16,
    },
}

impl TrackConfig {
    /// The configuration a sequence header tag carries (`None`: not a sequence header).
    pub fn from_header(type_id: u8, payload: &[u8]) -> Result<Option<Self>, Unsupported> {
        match (type_id, payload) {
            (TYPE_VIDEO, [b, 0, _, _, _, record @ ..]) if b & 0x80 == 0 && b & 0x0f == 7 => {
                let (width, height) = avc_picture_size(record)?;
                Ok(Some(TrackConfig::H264 {
                    record: Bytes::copy_from_slice(record),
                    width,
                    height,
                }))
            }
            (TYPE_VIDEO, [b, ..]) if b & 0x80 != 0 || b & 0x0f != 7 => {
                Err(Unsupported::Video(b & 0x0f))
            }
            (TYPE_AUDIO, [b, 0, config @ ..]) if b >> 4 == 10 => {
                let (rate, channels) = aac_rate_and_channels(config)?;
                Ok(Some(TrackConfig::Aac {
                    config: Bytes::copy_from_slice(config),
                    rate,
                    channels,
                }))
            }
            (TYPE_AUDIO, [b, ..]) if b >> 4 != 10 => Err(Unsupported::Audio(b >> 4)),
            _ => Ok(None),
        }
    }
}

fn bad(what: impl std::fmt::Display) -> Unsupported {
    Unsupported::BadConfig(what.to_string())
}

/// The picture size of the first SPS in an AVCDecoderConfigurationRecord.
fn avc_picture_size(record: &[u8]) -> Result<(u16, u16), Unsupported> {
    let avcc = decode_avcc(record)?;
    let sps = avcc
        .sequence_parameter_sets
        .first()
        .ok_or_else(|| bad("no SPS"))?;
    let nal = h264_reader::nal::RefNal::new(sps, &[], true);
    let sps = h264_reader::nal::sps::SeqParameterSet::from_bits(h264_reader::rbsp::BitReader::new(
        h264_reader::nal::Nal::rbsp_bytes(&nal),
    ))
    .map_err(|e| bad(format!("SPS: {e:?}")))?;
    let (w, h) = sps
        .pixel_dimensions()
        .map_err(|e| bad(format!("SPS size: {e:?}")))?;
    Ok((
        u16::try_from(w).map_err(bad)?,
        u16::try_from(h).map_err(bad)?,
    ))
}

fn decode_avcc(record: &[u8]) -> Result<Avcc, Unsupported> {
    let mut boxed = Vec::with_capacity(record.len() + 8);
    boxed.extend_from_slice(&((record.len() + 8) as u32).to_be_bytes());
    boxed.extend_from_slice(b"avcC");
    boxed.extend_from_slice(record);
    Avcc::decode(&mut boxed.as_slice()).map_err(|e| bad(format!("avcC: {e}")))
}

/// The sample rate and channel count an AudioSpecificConfig gives (ISO 14496-3 1.6.2.1).
fn aac_rate_and_channels(config: &[u8]) -> Result<(u32, u16), Unsupported> {
    const RATES: [u32; 13] = [
        96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025,
        8_000, 7_350,
    ];
    let [a, b, ..] = config else {
        return Err(bad("AudioSpecificConfig under 2 bytes"));
    };
    let index = ((a & 0x07) << 1) | (b >> 7);
    let channels = (b >> 3) & 0x0f;
    let rate = *RATES
        .get(index as usize)
        .ok_or_else(|| bad(format!("AAC sampling frequency index {index}")))?;
    Ok((rate, u16::from(channels.max(1))))
}

/// The `trak` of track `id` (its media in `timescale`) with `config`.
pub(super) fn trak(id: u32, timescale: u64, config: &TrackConfig) -> Trak {
    let dinf = Dinf {
        dref: Dref {
            entries: vec![
                Url {
                    location: String::new(),
                }
                .into(),
            ],
        },
    };
    let empty_tables = |stsd: Stsd| Stbl {
        stsd,
        stts: Stts::default(),
        stsc: Stsc::default(),
        stsz: Stsz::default(),
        stco: Some(Stco::default()),
        ..Default::default()
    };
    let mdhd = Mdhd {
        timescale: timescale as u32,
        language: "und".into(),
        ..Default::default()
    };
    match config {
        TrackConfig::H264 {
            record,
            width,
            height,
        } => Trak {
            tkhd: Tkhd {
                track_id: id,
                enabled: true,
                in_movie: true,
                width: (*width).into(),
                height: (*height).into(),
                ..Default::default()
            },
            mdia: Mdia {
                mdhd,
                hdlr: Hdlr {
                    handler: b"vide".into(),
                    name: "rtcroom video".into(),
                },
                minf: Minf {
                    vmhd: Some(Vmhd::default()),
                    dinf,
                    stbl: empty_tables(Stsd {
                        codecs: vec![
                            Avc1 {
                                visual: Visual {
                                    data_reference_index: 1,
                                    width: *width,
                                    height: *height,
                                    horizresolution: 72.into(),
                                    vertresolution: 72.into(),
                                    frame_count: 1,
                                    compressor: "".into(),
                                    depth: 24,
                                },
                                avcc: decode_avcc(record).expect("checked when configured"),
                                btrt: None,
                                colr: None,
                                pasp: None,
                                taic: None,
                                fiel: None,
                                spatial: Default::default(),
                            }
                            .into(),
                        ],
                    }),
                    ..Default::default()
                },
            },
            ..Default::default()
        },
        TrackConfig::Aac {
            config,
            rate,
            channels,
        } => Trak {
            tkhd: Tkhd {
                track_id: id,
                alternate_group: 1,
                enabled: true,
                in_movie: true,
                volume: 1.into(),
                ..Default::default()
            },
            mdia: Mdia {
                mdhd,
                hdlr: Hdlr {
                    handler: b"soun".into(),
                    name: "rtcroom audio".into(),
                },
                minf: Minf {
                    smhd: Some(Smhd::default()),
                    dinf,
                    stbl: empty_tables(Stsd {
                        codecs: vec![
                            Mp4a {
                                audio: Audio {
                                    data_reference_index: 1,
                                    channel_count: *channels,
                                    sample_size: 16,
                                    // The sample entry's rate is 16.16 fixed point: rates above
                                    // 65,535 Hz are given by the AudioSpecificConfig alone.
                                    sample_rate: (u16::try_from(*rate).unwrap_or(0)).into(),
                                },
                                esds: Esds {
                                    es_desc: esds::EsDescriptor {
                                        es_id: id as u16,
                                        dec_config: esds::DecoderConfig {
                                            // MPEG-4 audio, an audio stream.
                                            object_type_indication: 0x40,
                                            stream_type: 5,
                                            dec_specific: Some(esds::DecoderSpecific {
                                                profile: config[0] >> 3,
                                                freq_index: ((config[0] & 0x07) << 1)
                                                    | (config[1] >> 7),
                                                chan_conf: (config[1] >> 3) & 0x0f,
                                                raw: config.to_vec(),
                                            }),
                                            ..Default::default()
                                        },
                                        ..Default::default()
                                    },
                                },
                                btrt: None,
                                taic: None,
                            }
                            .into(),
                        ],
                    }),
                    ..Default::default()
                },
            },
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_configs_give_rate_and_channels() {
        // AAC-LC, 44.1 kHz, stereo; 48 kHz mono.
        assert_eq!(aac_rate_and_channels(&[0x12, 0x10]), Ok((44_100, 2)));
        assert_eq!(aac_rate_and_channels(&[0x11, 0x88]), Ok((48_000, 1)));
        assert!(aac_rate_and_channels(&[0x17, 0x80]).is_err());
        assert!(aac_rate_and_channels(&[0x12]).is_err());
    }

    #[test]
    fn other_codecs_are_refused_for_mp4() {
        assert_eq!(
            TrackConfig::from_header(TYPE_VIDEO, &[0x1c, 0, 0, 0, 0]),
            Err(Unsupported::Video(12))
        );
        assert_eq!(
            TrackConfig::from_header(TYPE_AUDIO, &[0x2f, 0]),
            Err(Unsupported::Audio(2))
        );
        assert_eq!(
            TrackConfig::from_header(TYPE_AUDIO, &[0xaf, 1, 9]),
            Ok(None)
        );
        assert!(matches!(
            TrackConfig::from_header(TYPE_VIDEO, &[0x17, 0, 0, 0, 0, 1, 2]),
            Err(Unsupported::BadConfig(_))
        ));
    }
}
