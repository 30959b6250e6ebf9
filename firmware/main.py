"""Entry point on the MCU: the only module that touches machine and utime.

Copied to the board as /main.py, with the rest of firmware/ as the package /firmware.
"""

import machine
import utime

from firmware import board
from firmware.config import load_config
from firmware.store import FileStore
from firmware.supervisor import Supervisor


def _print_event(name, value):
    print("supervisor:", name, value)


def build(on_event=None, root=""):
    """Create the machine objects from the pin map and the supervisor that drives them."""
    store = FileStore(root)
    config = load_config(store)
    uart = machine.UART(
        board.UART_ID,
        baudrate=config.baudrate,
        tx=machine.Pin(board.UART_TX),
        rx=machine.Pin(board.UART_RX),
        timeout=0,
        rxbuf=512,
    )
    relay = machine.Pin(board.RELAY, machine.Pin.OUT, value=1 - config.relay_cut_level)
    enclosure = machine.Pin(board.ENCLOSURE, machine.Pin.IN, machine.Pin.PULL_UP)
    light = machine.ADC(board.LIGHT)
    leds = [
        machine.Pin(board.LED_GREEN, machine.Pin.OUT, value=0),
        machine.Pin(board.LED_RED, machine.Pin.OUT, value=0),
    ]
    buzzer = machine.Pin(board.BUZZER, machine.Pin.OUT, value=0)
    wdt = machine.WDT(timeout=config.wdt_ms)
    return Supervisor(
        uart=uart,
        clock=utime,
        relay=relay,
        enclosure=enclosure,
        light=light,
        leds=leds,
        buzzer=buzzer,
        store=store,
        wdt=wdt,
        config=config,
        on_event=on_event,
        board_id=machine.unique_id(),
    )


def main(on_event=None, root="", stop=None):
    """Build the supervisor and run its loop (forever on the device)."""
    sink = on_event if on_event is not None else _print_event
    if machine.reset_cause() == machine.WDT_RESET:
        sink("mcu_watchdog_reset", 0)
    build(sink, root).run(stop)


if __name__ == "__main__":
    main()
