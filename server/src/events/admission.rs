//! How many event channels one address may hold open.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
};

/// Counts open connections per client address.
#[derive(Debug, Default)]
pub struct Admission {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; dropping it frees the place.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    /// Admits a connection from `ip` unless it already holds `limit` of them.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<Ticket> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(ip).or_default();
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Ticket { admission: self.clone(), ip })
    }

    /// Connections open from `ip`.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.admission.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address_and_frees_on_drop() {
        let a = Arc::new(Admission::default());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t1 = a.admit(ip, 2).unwrap();
        let _t2 = a.admit(ip, 2).unwrap();
        assert!(a.admit(ip, 2).is_none());
        assert!(a.admit("192.0.2.2".parse().unwrap(), 2).is_some());
        drop(t1);
        assert_eq!(a.open_from(ip), 1);
        assert!(a.admit(ip, 2).is_some());
    }
}
