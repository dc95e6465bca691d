-- The adoption of a rotation plan's next pin over time: one sample per
-- step of the plan, at most one per sampling interval, thinned to a bound
-- per plan (store.RotationStore.AddAdoptionSample). The console draws the
-- curve from it.
CREATE TABLE rotation_adoption (
	id      BIGSERIAL PRIMARY KEY,
	plan_id BIGINT NOT NULL REFERENCES rotation_plans(id),
	at      BIGINT NOT NULL,
	clients BIGINT NOT NULL,
	active  BIGINT NOT NULL
);
CREATE INDEX rotation_adoption_plan ON rotation_adoption (plan_id, at);
