-- Listings of the trait index runs (package events). Merges replace runs
-- all the time, so between autovacuums event_trait_run holds many dead
-- rows. A bitmap scan, which the planner picks from statistics taken
-- before such churn, visits the page of every dead row on every listing;
-- a plain index scan marks dead index entries as it meets them and skips
-- them from then on. These functions pin the plain index scan.
CREATE FUNCTION strata_event_runs(ns text, names text[])
RETURNS TABLE (id bigint, name text, type smallint)
LANGUAGE plpgsql STABLE
SET enable_bitmapscan = off
SET enable_seqscan = off
AS $$
BEGIN
    RETURN QUERY SELECT r.id, r.name, r.type FROM event_trait_run r
        WHERE r.namespace = ns AND r.name = ANY (names);
END
$$;

-- The runs of a namespace below the final size, oldest first, for merges.
CREATE FUNCTION strata_event_merge_runs(ns text, final bigint)
RETURNS TABLE (id bigint, name text, type smallint, entries integer, min_id bigint, max_id bigint, max_expires bigint)
LANGUAGE plpgsql STABLE
SET enable_bitmapscan = off
SET enable_seqscan = off
AS $$
BEGIN
    RETURN QUERY SELECT r.id, r.name, r.type, r.entries, r.min_id, r.max_id, r.max_expires FROM event_trait_run r
        WHERE r.namespace = ns AND r.entries < final ORDER BY r.id;
END
$$;
