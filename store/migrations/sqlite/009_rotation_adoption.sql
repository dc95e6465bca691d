-- The adoption of a rotation plan's next pin over time: one sample per
-- step of the plan, at most one per sampling interval, thinned to a bound
-- per plan (store.RotationStore.AddAdoptionSample). The console draws the
-- curve from it.
CREATE TABLE rotation_adoption (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	plan_id INTEGER NOT NULL REFERENCES rotation_plans(id),
	at      INTEGER NOT NULL,
	clients INTEGER NOT NULL,
	active  INTEGER NOT NULL
);
CREATE INDEX rotation_adoption_plan ON rotation_adoption (plan_id, at);
