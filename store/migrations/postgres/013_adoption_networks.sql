-- The client network of each adoption sighting (an HMAC of the IPv4 /24 or
-- IPv6 /64 under the service's daily salt, never the address), so that one
-- network counts at most adoption.max_installs_per_network installs per
-- window and the rotation gate can weigh every network the same. Rows
-- written before this migration have no network ('') and age out with the
-- window.
ALTER TABLE adoption_installs ADD COLUMN network TEXT NOT NULL DEFAULT '';
CREATE INDEX adoption_installs_app_network ON adoption_installs (app, network, seen_at);
