"""Pin map of the supervisor board (Raspberry Pi Pico / RP2040 GPIO numbers).

Plain numbers, no imports: the simulator reads them too.
"""

UART_ID = 0
UART_TX = 0  # to the Pi's RXD (GPIO15)
UART_RX = 1  # from the Pi's TXD (GPIO14)
RELAY = 2  # power relay of the Pi (level that cuts power: config relay_cut_level)
ENCLOSURE = 3  # enclosure switch to ground, pulled up: high when the enclosure is open
LED_GREEN = 4
LED_RED = 5
BUZZER = 6  # active buzzer through a transistor
LIGHT = 26  # light sensor divider on ADC0
