//! Reading fields of a verified FlatBuffers buffer without `unsafe`: a table is a
//! position in the buffer, and every read goes through checked indexing.
//!
//! Only buffers the crate's `Verifier` accepted (`schema.rs`) are read, so every
//! offset is known to be in bounds and every string UTF-8; the checks here are kept
//! anyway (they cost little), so a reader bug is an `OutOfBounds` error, never a panic.
//!
//! FlatBuffers layout used (all little endian): a buffer starts with a u32 offset to
//! the root table; a table starts with an i32 whose subtraction from the table's
//! position gives its vtable; a vtable is u16 vtable length, u16 table length, then one
//! u16 per field id (0: absent, else the field's offset from the table start); a string
//! or vector field holds a u32 offset to a u32 length followed by its elements.

use super::codec::DecodeError;
use super::schema::slot;

/// A table at `pos` of a verified buffer.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn bytes_at<const N: usize>(buf: &[u8], pos: usize) -> Result<[u8; N], DecodeError> {
    let end = pos.checked_add(N).ok_or(DecodeError::OutOfBounds)?;
    let slice = buf.get(pos..end).ok_or(DecodeError::OutOfBounds)?;
    let mut out = [0u8; N];
    out.copy_from_slice(slice);
    Ok(out)
}

fn u16_at(buf: &[u8], pos: usize) -> Result<u16, DecodeError> {
    Ok(u16::from_le_bytes(bytes_at(buf, pos)?))
}

fn u32_at(buf: &[u8], pos: usize) -> Result<u32, DecodeError> {
    Ok(u32::from_le_bytes(bytes_at(buf, pos)?))
}

/// The position a u32 forward offset stored at `pos` points to.
fn follow(buf: &[u8], pos: usize) -> Result<usize, DecodeError> {
    let offset = u32_at(buf, pos)? as usize;
    pos.checked_add(offset).ok_or(DecodeError::OutOfBounds)
}

/// The elements of the vector at `pos`: (first element's position, count).
fn vector(buf: &[u8], pos: usize) -> Result<(usize, usize), DecodeError> {
    let len = u32_at(buf, pos)? as usize;
    Ok((pos.checked_add(4).ok_or(DecodeError::OutOfBounds)?, len))
}

impl<'a> Table<'a> {
    /// The root table of a verified buffer.
    pub fn root(buf: &'a [u8]) -> Result<Self, DecodeError> {
        Ok(Table {
            buf,
            pos: follow(buf, 0)?,
        })
    }

    /// Where field `id` is stored (`None`: absent, i.e. its default).
    fn field(&self, id: u16) -> Result<Option<usize>, DecodeError> {
        let back = i32::from_le_bytes(bytes_at(self.buf, self.pos)?);
        let distance = back.unsigned_abs() as usize;
        let vtable = if back >= 0 {
            self.pos.checked_sub(distance)
        } else {
            self.pos.checked_add(distance)
        }
        .ok_or(DecodeError::OutOfBounds)?;
        let vtable_len = u16_at(self.buf, vtable)?;
        let at = slot(id);
        if at + 2 > vtable_len {
            return Ok(None);
        }
        let entry = vtable
            .checked_add(at as usize)
            .ok_or(DecodeError::OutOfBounds)?;
        match u16_at(self.buf, entry)? {
            0 => Ok(None),
            offset => Ok(Some(self.pos + offset as usize)),
        }
    }

    pub fn u8(&self, id: u16) -> Result<u8, DecodeError> {
        self.field(id)?
            .map_or(Ok(0), |pos| Ok(bytes_at::<1>(self.buf, pos)?[0]))
    }

    pub fn bool(&self, id: u16) -> Result<bool, DecodeError> {
        Ok(self.u8(id)? != 0)
    }

    pub fn u32(&self, id: u16) -> Result<u32, DecodeError> {
        self.field(id)?.map_or(Ok(0), |pos| {
            Ok(u32::from_le_bytes(bytes_at(self.buf, pos)?))
        })
    }

    pub fn u64(&self, id: u16) -> Result<u64, DecodeError> {
        self.field(id)?.map_or(Ok(0), |pos| {
            Ok(u64::from_le_bytes(bytes_at(self.buf, pos)?))
        })
    }

    /// A `[ubyte]` field.
    pub fn bytes(&self, id: u16) -> Result<Option<&'a [u8]>, DecodeError> {
        let Some(pos) = self.field(id)? else {
            return Ok(None);
        };
        let (start, len) = vector(self.buf, follow(self.buf, pos)?)?;
        let end = start.checked_add(len).ok_or(DecodeError::OutOfBounds)?;
        self.buf
            .get(start..end)
            .map(Some)
            .ok_or(DecodeError::OutOfBounds)
    }

    /// A `string` field.
    pub fn str(&self, id: u16) -> Result<Option<&'a str>, DecodeError> {
        match self.bytes(id)? {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|_| DecodeError::OutOfBounds),
        }
    }

    /// A table field.
    pub fn table(&self, id: u16) -> Result<Option<Table<'a>>, DecodeError> {
        let Some(pos) = self.field(id)? else {
            return Ok(None);
        };
        Ok(Some(Table {
            buf: self.buf,
            pos: follow(self.buf, pos)?,
        }))
    }

    /// The tables of a `[Table]` field (empty if absent).
    pub fn tables(&self, id: u16) -> Result<Vec<Table<'a>>, DecodeError> {
        let Some(pos) = self.field(id)? else {
            return Ok(Vec::new());
        };
        let (start, len) = vector(self.buf, follow(self.buf, pos)?)?;
        (0..len)
            .map(|i| {
                let at = start + 4 * i;
                Ok(Table {
                    buf: self.buf,
                    pos: follow(self.buf, at)?,
                })
            })
            .collect()
    }

    /// The strings of a `[string]` field (empty if absent).
    pub fn strs(&self, id: u16) -> Result<Vec<&'a str>, DecodeError> {
        let Some(pos) = self.field(id)? else {
            return Ok(Vec::new());
        };
        let (start, len) = vector(self.buf, follow(self.buf, pos)?)?;
        (0..len)
            .map(|i| {
                let (first, bytes) = vector(self.buf, follow(self.buf, start + 4 * i)?)?;
                let end = first.checked_add(bytes).ok_or(DecodeError::OutOfBounds)?;
                let raw = self.buf.get(first..end).ok_or(DecodeError::OutOfBounds)?;
                std::str::from_utf8(raw).map_err(|_| DecodeError::OutOfBounds)
            })
            .collect()
    }
}
