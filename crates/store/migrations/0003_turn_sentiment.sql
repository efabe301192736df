-- Sentiment of each caller turn, as the brain judged it (-1.0 .. 1.0 and a label).
ALTER TABLE turns ADD COLUMN sentiment_label TEXT;
ALTER TABLE turns ADD COLUMN sentiment_score REAL;
