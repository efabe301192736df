-- Twilio's answering-machine verdict for a call (`human`, `machine_end_beep`, `fax`, ...), as
-- given on the voice webhook or a status callback when AMD ran. The dialer reads it to tell a
-- voicemail from a conversation.
ALTER TABLE calls ADD COLUMN answered_by TEXT;
