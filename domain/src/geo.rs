//! Points on the earth and the great-circle distance between them.

use thiserror::Error;

/// The mean earth radius the product's cost model is defined with.
pub const EARTH_RADIUS_KM: f64 = 6371.0;

/// A validated latitude/longitude pair in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    latitude: f64,
    longitude: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum InvalidCoordinates {
    #[error("latitude {0} is outside [-90, 90]")]
    Latitude(f64),
    #[error("longitude {0} is outside [-180, 180]")]
    Longitude(f64),
}

impl GeoPoint {
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, InvalidCoordinates> {
        // `contains` is false for NaN, so NaN is rejected with the rest.
        if !(-90.0..=90.0).contains(&latitude) {
            return Err(InvalidCoordinates::Latitude(latitude));
        }
        if !(-180.0..=180.0).contains(&longitude) {
            return Err(InvalidCoordinates::Longitude(longitude));
        }
        Ok(Self { latitude, longitude })
    }

    pub fn latitude(self) -> f64 {
        self.latitude
    }

    pub fn longitude(self) -> f64 {
        self.longitude
    }

    /// Great-circle distance by the haversine formula, which stays accurate
    /// for the short distances (same metro) where the law of cosines loses
    /// precision.
    pub fn distance_km(self, other: GeoPoint) -> f64 {
        let (lat1, lat2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.longitude - self.longitude).to_radians();
        let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_outside_the_globe_are_rejected() {
        assert_eq!(GeoPoint::new(90.5, 0.0), Err(InvalidCoordinates::Latitude(90.5)));
        assert_eq!(GeoPoint::new(0.0, -180.01), Err(InvalidCoordinates::Longitude(-180.01)));
        assert!(GeoPoint::new(f64::NAN, 0.0).is_err());
        assert!(GeoPoint::new(0.0, f64::INFINITY).is_err());
        assert!(GeoPoint::new(-90.0, 180.0).is_ok());
    }

    #[test]
    fn distance_matches_known_city_pairs() {
        let reno = GeoPoint::new(39.5, -119.8).unwrap();
        let nyc = GeoPoint::new(40.7, -74.0).unwrap();
        let d = reno.distance_km(nyc);
        // 3,853.09 km by an independent haversine computation with R = 6371.0.
        assert!((d - 3853.092).abs() < 0.001, "{d}");
        assert_eq!(reno.distance_km(reno), 0.0);
        let antipode = GeoPoint::new(-39.5, 60.2).unwrap();
        let half = std::f64::consts::PI * EARTH_RADIUS_KM;
        assert!((reno.distance_km(antipode) - half).abs() < 1e-6);
    }
}
