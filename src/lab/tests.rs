//! Engine tests over the fake kernel (no root).
