//! The terminal UI. Model / Message / update / view; render functions are pure.
