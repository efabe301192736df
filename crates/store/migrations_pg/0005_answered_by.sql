-- PostgreSQL twin of migrations/0005_answered_by.sql: Twilio's AnsweredBy for a call.
ALTER TABLE calls ADD COLUMN answered_by TEXT;
