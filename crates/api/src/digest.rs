//! 128-bit digests for remembering what was seen or written without keeping a copy of it.

use std::hash::{DefaultHasher, Hash, Hasher};

/// Two SipHash sums of `value` under different leading bytes: 128 bits, so that two
/// different values share a digest with odds of about 2^-128.
pub fn of<T: Hash + ?Sized>(value: &T) -> u128 {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        value.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn equal_values_share_a_digest_and_different_ones_do_not() {
        assert_eq!(super::of("abc"), super::of("abc"));
        assert_ne!(super::of("abc"), super::of("abd"));
        assert_ne!(super::of(&("a", "bc")), super::of(&("ab", "c")));
        let d = super::of(&1u32);
        assert_ne!(d >> 64, d & u128::from(u64::MAX), "the halves differ");
    }
}
