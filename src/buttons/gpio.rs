//! Buttons on Raspberry Pi GPIO pins, through rppal's interrupts.

use std::sync::mpsc::{self, Sender};

use rppal::gpio::{Gpio, InputPin, Level, Trigger};

use super::{worker, Action, Button, ButtonError, ButtonHandle, ButtonSource, Edge};
use crate::config::{GpioConfig, Pull};

/// The skip and like buttons on the pins named in `[gpio]`. The pins stay claimed until
/// the [`ButtonHandle`] returned by `start` is dropped (dropping a pin cancels its
/// interrupt).
pub struct GpioButtons {
    cfg: GpioConfig,
    skip: InputPin,
    like: InputPin,
}

impl GpioButtons {
    /// Claims both pins; fails with a message naming the fix on a machine without GPIO,
    /// without permission, or when a pin is taken.
    pub fn new(cfg: &GpioConfig) -> Result<Self, ButtonError> {
        let gpio = Gpio::new().map_err(|e| map_err(e, None))?;
        let input = |pin: u8| {
            let pin = gpio.get(pin).map_err(|e| map_err(e, Some(pin)))?;
            Ok::<_, ButtonError>(match cfg.pull {
                Pull::Up => pin.into_input_pullup(),
                Pull::Down => pin.into_input_pulldown(),
                Pull::Off => pin.into_input(),
            })
        };
        Ok(GpioButtons {
            cfg: cfg.clone(),
            skip: input(cfg.skip_pin)?,
            like: input(cfg.like_pin)?,
        })
    }
}

impl ButtonSource for GpioButtons {
    fn start(self: Box<Self>, tx: Sender<Action>) -> Result<ButtonHandle, ButtonError> {
        let GpioButtons {
            cfg,
            mut skip,
            mut like,
        } = *self;
        // Pulled up, a pressed button shorts the pin to ground; pulled down (or with
        // `pull = "off"` and an external pull-down), it pulls the pin high.
        let pressed_level = match cfg.pull {
            Pull::Up => Level::Low,
            Pull::Down | Pull::Off => Level::High,
        };
        let (edges_tx, edges) = mpsc::channel();
        for (button, pin) in [(Button::Skip, &mut skip), (Button::Like, &mut like)] {
            let edges_tx = edges_tx.clone();
            let number = pin.pin();
            pin.set_async_interrupt(Trigger::Both, None, move |event| {
                let level = match event.trigger {
                    Trigger::RisingEdge => Level::High,
                    _ => Level::Low,
                };
                let _ = edges_tx.send(Edge::now(button, level == pressed_level));
            })
            .map_err(|e| map_err(e, Some(number)))?;
        }
        worker::start(&cfg, edges, tx, Box::new((skip, like)))
    }
}

/// Turns an rppal error into one that says what to do about it.
fn map_err(e: rppal::gpio::Error, pin: Option<u8>) -> ButtonError {
    use rppal::gpio::Error as E;
    use std::io::ErrorKind;
    match e {
        E::UnknownModel => ButtonError::NoGpio,
        E::PinUsed(n) => ButtonError::PinUsed(n),
        E::PinNotAvailable(n) => ButtonError::PinNotAvailable(n),
        E::PermissionDenied(path) => ButtonError::PermissionDenied(path),
        E::Io(e) => match (e.kind(), e.raw_os_error(), pin) {
            (ErrorKind::NotFound, _, _) => ButtonError::NoGpio,
            (ErrorKind::PermissionDenied, _, _) => {
                ButtonError::PermissionDenied("/dev/gpiochip0".into())
            }
            (_, Some(16), Some(n)) => ButtonError::PinUsed(n), // EBUSY
            _ => ButtonError::Io(e),
        },
        E::ThreadPanic => ButtonError::Other("rppal's interrupt thread panicked".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rppal::gpio::Error as E;

    #[test]
    fn error_messages_name_the_fix() {
        let denied = map_err(E::PermissionDenied("/dev/gpiomem".into()), None).to_string();
        assert!(denied.contains("/dev/gpiomem") && denied.contains("usermod -aG gpio"));
        assert_eq!(
            map_err(E::PinUsed(17), Some(17)).to_string(),
            "GPIO 17 is already in use by another program (stop it, or choose another pin in [gpio])"
        );
        assert!(map_err(E::UnknownModel, None)
            .to_string()
            .contains("use `moodbox press`"));
    }

    /// On a machine without GPIO this must be an error, never a panic.
    #[cfg(not(any(target_arch = "arm", target_arch = "aarch64")))]
    #[test]
    fn no_gpio_on_a_pc_is_an_error() {
        let cfg = GpioConfig {
            enabled: true,
            skip_pin: 17,
            like_pin: 27,
            pull: Pull::Up,
            debounce: std::time::Duration::from_millis(30),
            long_press: std::time::Duration::from_millis(800),
        };
        assert!(matches!(GpioButtons::new(&cfg), Err(ButtonError::NoGpio)));
    }
}
