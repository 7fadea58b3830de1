//! Compound documents (OLE/CFB): old `.xls` workbooks and password-protected `.xlsx` files are stored in one.
//!
//! calamine 0.38 follows a compound file's sector chains without checking for loops, so a damaged file whose
//! directory chain points back on itself makes it copy sectors forever (fuzzing found a 14 KB file that grew past
//! 6 GiB). The `cfb` crate checks every chain when it opens a file, so a compound file is opened with it first: a
//! file it refuses never reaches calamine, and what it finds inside tells an encrypted workbook from an `.xls`.

use std::io::Read;
use std::path::Path;

/// The eight bytes every compound file starts with.
const MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// What a compound file holds, as far as a spreadsheet reader cares.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Compound {
    /// Not a compound file: the extension's reader decides.
    No,
    /// An Office document encrypted with a password (its package is the `EncryptedPackage` stream).
    Encrypted,
    /// A BIFF workbook (an `.xls`), whatever the file's extension says.
    Xls,
    /// A compound file with neither: a Word or Outlook file, say.
    Other,
}

/// Looks inside `path`: `Err` carries the reason a compound file is damaged.
pub(crate) fn inspect(path: &Path) -> std::io::Result<Compound> {
    let mut file = std::fs::File::open(path)?;
    let mut head = [0u8; 8];
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..])? {
            0 => return Ok(Compound::No),
            n => filled += n,
        }
    }
    if head != MAGIC {
        return Ok(Compound::No);
    }
    let compound = cfb::CompoundFile::open(std::io::BufReader::new(file))?;
    let has = |name: &str| compound.is_stream(name);
    Ok(if has("EncryptedPackage") {
        Compound::Encrypted
    } else if has("Workbook") || has("Book") {
        Compound::Xls
    } else {
        Compound::Other
    })
}
