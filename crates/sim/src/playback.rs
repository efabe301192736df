//! Twilio's playback buffer for one stream: the server's audio and marks, played at real time.
//!
//! Sans-IO: the driver calls [`Playback::tick`] every 20 ms and sends the mark echoes it returns.
//! A mark is echoed once every frame queued before it has *finished* playing, i.e. on the tick
//! after its last preceding frame, or at once when no audio is queued ahead of it (spec 4.2).

use std::collections::VecDeque;

use crate::wire::FRAME_BYTES;

#[derive(Debug)]
enum Item {
    Frame([u8; FRAME_BYTES]),
    Mark(String),
}

/// What one 20 ms tick of playback produced.
#[derive(Debug, Default, PartialEq)]
pub struct Tick {
    /// Marks whose preceding audio has now been played, in order.
    pub reached: Vec<String>,
    /// The frame the caller hears during this tick (`None`: nothing queued, the line is silent).
    pub frame: Option<[u8; FRAME_BYTES]>,
}

/// The queue of audio and marks the server sent and the caller has not heard yet.
#[derive(Debug, Default)]
pub struct Playback {
    queue: VecDeque<Item>,
    frames: usize,
}

impl Playback {
    /// Queues audio frames behind everything already queued.
    pub fn push_frames(&mut self, frames: impl IntoIterator<Item = [u8; FRAME_BYTES]>) {
        for f in frames {
            self.queue.push_back(Item::Frame(f));
            self.frames += 1;
        }
    }

    /// Queues a mark. Returns the marks to echo now: when no audio is queued, this one and any
    /// marks still waiting ahead of it are reached immediately.
    pub fn push_mark(&mut self, name: String) -> Vec<String> {
        self.queue.push_back(Item::Mark(name));
        if self.frames == 0 {
            self.drain_marks()
        } else {
            Vec::new()
        }
    }

    /// `clear`: drops every queued frame and returns `(frames dropped, marks to echo)`; Twilio
    /// echoes all pending marks so that the server's mark bookkeeping drains.
    pub fn clear(&mut self) -> (usize, Vec<String>) {
        let dropped = self.frames;
        self.frames = 0;
        self.queue.retain(|i| matches!(i, Item::Mark(_)));
        (dropped, self.drain_marks())
    }

    /// Advances playback by one frame.
    pub fn tick(&mut self) -> Tick {
        let reached = self.leading_marks();
        let frame = match self.queue.pop_front() {
            Some(Item::Frame(f)) => {
                self.frames -= 1;
                Some(f)
            }
            Some(Item::Mark(_)) => unreachable!("leading marks were drained"),
            None => None,
        };
        Tick { reached, frame }
    }

    /// Frames queued and not yet heard.
    #[cfg(test)]
    pub fn queued_frames(&self) -> usize {
        self.frames
    }

    /// Drops everything (the stream ended); returns `(frames never heard, marks never echoed)`.
    pub fn abandon(&mut self) -> (usize, Vec<String>) {
        let frames = self.frames;
        let marks = self
            .queue
            .drain(..)
            .filter_map(|i| match i {
                Item::Mark(m) => Some(m),
                Item::Frame(_) => None,
            })
            .collect();
        self.frames = 0;
        (frames, marks)
    }

    fn leading_marks(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(Item::Mark(_)) = self.queue.front() {
            if let Some(Item::Mark(m)) = self.queue.pop_front() {
                out.push(m);
            }
        }
        out
    }

    fn drain_marks(&mut self) -> Vec<String> {
        debug_assert_eq!(self.frames, 0);
        self.leading_marks()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(b: u8) -> [u8; FRAME_BYTES] {
        [b; FRAME_BYTES]
    }

    #[test]
    fn mark_is_echoed_on_the_tick_after_its_audio_finished() {
        let mut p = Playback::default();
        p.push_frames([frame(1), frame(2)]);
        assert!(p.push_mark("a".into()).is_empty());
        assert_eq!(
            p.tick(),
            Tick {
                reached: vec![],
                frame: Some(frame(1))
            }
        );
        assert_eq!(
            p.tick(),
            Tick {
                reached: vec![],
                frame: Some(frame(2))
            }
        );
        assert_eq!(
            p.tick(),
            Tick {
                reached: vec!["a".into()],
                frame: None
            }
        );
        assert_eq!(p.tick(), Tick::default());
    }

    #[test]
    fn mark_on_an_empty_queue_is_echoed_immediately() {
        let mut p = Playback::default();
        assert_eq!(p.push_mark("now".into()), vec!["now".to_string()]);
    }

    #[test]
    fn marks_keep_their_order_between_frames() {
        let mut p = Playback::default();
        p.push_frames([frame(1)]);
        p.push_mark("a".into());
        p.push_frames([frame(2)]);
        p.push_mark("b".into());
        p.push_mark("c".into());
        assert_eq!(p.tick().reached, Vec::<String>::new());
        assert_eq!(
            p.tick(),
            Tick {
                reached: vec!["a".into()],
                frame: Some(frame(2))
            }
        );
        assert_eq!(p.tick().reached, vec!["b".to_string(), "c".to_string()]);
    }

    #[test]
    fn clear_drops_audio_and_echoes_every_pending_mark() {
        let mut p = Playback::default();
        p.push_frames([frame(1), frame(2)]);
        p.push_mark("a".into());
        p.push_frames([frame(3)]);
        p.push_mark("b".into());
        p.tick();
        let (dropped, marks) = p.clear();
        assert_eq!(dropped, 2);
        assert_eq!(marks, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(p.queued_frames(), 0);
        assert_eq!(p.tick(), Tick::default());
    }

    #[test]
    fn abandon_reports_unheard_audio_and_marks() {
        let mut p = Playback::default();
        p.push_frames([frame(1), frame(2), frame(3)]);
        p.push_mark("bye".into());
        assert_eq!(p.abandon(), (3, vec!["bye".to_string()]));
    }
}
