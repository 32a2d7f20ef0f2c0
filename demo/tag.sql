-- Tag the personal data: one @pii line in each column comment. Other lines of
-- a comment stay free text.
COMMENT ON TABLE  portal.users IS E'Portal accounts.\n@pii subjects';
COMMENT ON COLUMN portal.users.username IS E'Login name, shown on the profile.\n@pii subject';
COMMENT ON COLUMN portal.users.email IS E'Contact and login address.\n@pii email';
COMMENT ON COLUMN portal.users.first_name IS '@pii';
COMMENT ON COLUMN portal.users.last_name IS '@pii';
COMMENT ON COLUMN portal.users.phone IS '@pii null';
COMMENT ON TABLE  portal.api_keys IS '@pii delete';
COMMENT ON COLUMN portal.audit_events.actor IS E'Who did it.\n@pii subject';
COMMENT ON COLUMN portal.audit_events.ip IS '@pii ip';
COMMENT ON COLUMN portal.audit_events.message IS '@pii scrub';
COMMENT ON COLUMN portal.audit_events.payload IS '@pii json:user,email,invitee';
COMMENT ON COLUMN portal.audit_events.at IS '@pii time';
