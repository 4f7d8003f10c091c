//! Verbs that read a version's chunk records (from its folder, or from the trash while a replaced version is still being read).

/// Reading chunk records on one member.
pub trait RecordVerbs {}
