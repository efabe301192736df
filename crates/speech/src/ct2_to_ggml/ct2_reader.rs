//! Reading CTranslate2's `model.bin`: the variable directory (names, shapes, types, offsets),
//! without loading the weights themselves.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

use crate::SpeechError;

/// Element types of a CTranslate2 variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DType {
    F32,
    I8,
    I16,
    I32,
    F16,
}

impl DType {
    fn from_code(code: u8) -> Result<Self, SpeechError> {
        Ok(match code {
            0 => DType::F32,
            1 => DType::I8,
            2 => DType::I16,
            3 => DType::I32,
            4 => DType::F16,
            other => return Err(invalid(format!("unknown CTranslate2 dtype {other}"))),
        })
    }

    pub(super) fn size(self) -> u64 {
        match self {
            DType::I8 => 1,
            DType::I16 | DType::F16 => 2,
            DType::F32 | DType::I32 => 4,
        }
    }
}

/// Where one variable's data lies in `model.bin`.
#[derive(Debug, Clone)]
pub(super) struct Variable {
    pub(super) dims: Vec<u64>,
    pub(super) dtype: DType,
    pub(super) offset: u64,
    pub(super) nbytes: u64,
}

pub(super) fn invalid(msg: impl Into<String>) -> SpeechError {
    SpeechError::InvalidModel(msg.into())
}

fn read_exact<R: Read>(r: &mut R, n: usize) -> Result<Vec<u8>, SpeechError> {
    let mut buf = vec![0u8; n];
    r.read_exact(&mut buf)
        .map_err(|e| invalid(format!("truncated CTranslate2 file: {e}")))?;
    Ok(buf)
}

fn read_u8<R: Read>(r: &mut R) -> Result<u8, SpeechError> {
    Ok(read_exact(r, 1)?[0])
}

fn read_u16<R: Read>(r: &mut R) -> Result<u16, SpeechError> {
    let b = read_exact(r, 2)?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}

fn read_u32<R: Read>(r: &mut R) -> Result<u32, SpeechError> {
    let b = read_exact(r, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// A CTranslate2 string: `u16` length including the trailing NUL, then the bytes.
fn read_string<R: Read>(r: &mut R) -> Result<String, SpeechError> {
    let len = read_u16(r)? as usize;
    let mut bytes = read_exact(r, len)?;
    if bytes.last() == Some(&0) {
        bytes.pop();
    }
    String::from_utf8(bytes).map_err(|_| invalid("non UTF-8 name in CTranslate2 file"))
}

/// Reads the variable directory of a CTranslate2 `model.bin` without loading any weights.
pub(super) fn read_index<R: Read + Seek>(
    r: &mut R,
) -> Result<HashMap<String, Variable>, SpeechError> {
    let version = read_u32(r)?;
    if !(5..=6).contains(&version) {
        return Err(invalid(format!(
            "unsupported CTranslate2 binary version {version} (expected 5 or 6)"
        )));
    }
    let spec = read_string(r)?;
    if spec != "WhisperSpec" {
        return Err(invalid(format!(
            "expected a WhisperSpec model, found {spec:?}"
        )));
    }
    let _revision = read_u32(r)?;
    let count = read_u32(r)?;
    let mut vars = HashMap::with_capacity(count as usize);
    for _ in 0..count {
        let name = read_string(r)?;
        let rank = read_u8(r)?;
        let mut dims = Vec::with_capacity(rank as usize);
        for _ in 0..rank {
            dims.push(read_u32(r)? as u64);
        }
        let dtype = DType::from_code(read_u8(r)?)?;
        let nbytes = read_u32(r)? as u64;
        let elements: u64 = dims.iter().product();
        if elements * dtype.size() != nbytes {
            return Err(invalid(format!(
                "variable {name}: {nbytes} bytes do not match shape {dims:?}"
            )));
        }
        let offset = r.stream_position()?;
        r.seek(SeekFrom::Current(nbytes as i64))?;
        vars.insert(
            name,
            Variable {
                dims,
                dtype,
                offset,
                nbytes,
            },
        );
    }
    // Aliases (e.g. the output projection tied to the token embedding) follow the variables.
    if let Ok(n_aliases) = read_u32(r) {
        for _ in 0..n_aliases {
            let alias = read_string(r)?;
            let target = read_string(r)?;
            if let Some(v) = vars.get(&target).cloned() {
                vars.insert(alias, v);
            }
        }
    }
    Ok(vars)
}

pub(super) fn var<'a>(
    vars: &'a HashMap<String, Variable>,
    name: &str,
) -> Result<&'a Variable, SpeechError> {
    vars.get(name)
        .ok_or_else(|| invalid(format!("CTranslate2 model lacks variable {name}")))
}

pub(super) fn read_scalar_int<R: Read + Seek>(r: &mut R, v: &Variable) -> Result<i32, SpeechError> {
    r.seek(SeekFrom::Start(v.offset))?;
    let b = read_exact(r, v.nbytes as usize)?;
    Ok(match v.dtype {
        DType::I8 => b[0] as i8 as i32,
        DType::I16 => i16::from_le_bytes([b[0], b[1]]) as i32,
        DType::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        other => {
            return Err(invalid(format!(
                "expected an integer scalar, found {other:?}"
            )))
        }
    })
}
