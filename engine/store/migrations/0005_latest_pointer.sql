-- Which version of a workflow is the latest is a pointer, not the highest number:
-- registering content that an older version already holds makes that version the latest
-- again (reverting a file in workflows/ reverts what runs). `promoted` orders a name's
-- versions by when they last became the latest; the greatest is the latest.
CREATE SEQUENCE workflow_promotions;
ALTER TABLE workflow_versions ADD COLUMN promoted bigint;
-- Until now the latest was the highest version: keep that order.
UPDATE workflow_versions SET promoted = version;
SELECT setval('workflow_promotions', GREATEST((SELECT max(version) FROM workflow_versions), 1));
ALTER TABLE workflow_versions
    ALTER COLUMN promoted SET DEFAULT nextval('workflow_promotions'),
    ALTER COLUMN promoted SET NOT NULL;
ALTER SEQUENCE workflow_promotions OWNED BY workflow_versions.promoted;
CREATE INDEX workflow_versions_latest ON workflow_versions (name, promoted DESC);
