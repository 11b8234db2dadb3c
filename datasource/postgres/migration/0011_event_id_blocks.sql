-- Event and run ids are taken in blocks (package events): a process takes
-- a block with one nextval and numbers the events and runs of its batches
-- from it, rather than calling nextval for every id of every batch (a
-- round trip of each Record). Stepping by 1024 makes the block
-- [v, v + 1024) of the value v returned this process's alone; a process
-- of an older version uses only the values themselves, which stay
-- unique. Never lower these steps by hand: the next values would fall in
-- the blocks processes hold.
ALTER SEQUENCE event_id_seq INCREMENT BY 1024;
ALTER SEQUENCE event_trait_run_id_seq INCREMENT BY 1024;
