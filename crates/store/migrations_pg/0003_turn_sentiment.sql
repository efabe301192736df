-- PostgreSQL twin of migrations/0003_turn_sentiment.sql.
ALTER TABLE turns ADD COLUMN sentiment_label TEXT;
ALTER TABLE turns ADD COLUMN sentiment_score DOUBLE PRECISION;
