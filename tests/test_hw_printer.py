"""The printer seam: status read right over every transport, faults mapped to the PrinterError family."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from hw.printer import (
    Paper,
    PaperOut,
    Printer,
    PrinterError,
    PrinterOffline,
    Status,
    TwinDevice,
    open_printer,
)
from hw.printer.file import FileDevice
from hw.printer.network import NetworkDevice
from hw.printer.serial import SerialDevice
from hw.printer.twin import PrinterEmulator, SerialPrinterTwin, TcpPrinterTwin
from qbus.config.sections import PrinterSection
from qbus.errors import QcallError

TICKET = b"\x1b@hello\n\x1bd\x06\x1dV\x00"


def twin_printer(answer_s: float = 0.05) -> tuple[Printer, PrinterEmulator]:
    dev = TwinDevice()
    return Printer(dev, answer_s=answer_s), dev.emulator


@pytest.mark.parametrize(
    ("cue", "state"),
    [
        (lambda e: None, Status.PAPER_OK),
        (lambda e: e.set_paper(Paper.NEAR_END), Status.NEAR_END),
        (lambda e: e.set_paper(Paper.OUT), Status.PAPER_OUT),
        (lambda e: e.open_cover(), Status.OFFLINE),
        (lambda e: e.stop_answering(), Status.NO_ANSWER),
    ],
)
def test_twin_status_states(cue: Callable[[PrinterEmulator], None], state: Status) -> None:
    printer, emu = twin_printer()
    cue(emu)
    st = printer.status()
    assert st.state is state
    assert st.can_print is (state in (Status.PAPER_OK, Status.NEAR_END))


def test_offline_cause_is_read() -> None:
    printer, emu = twin_printer()
    emu.open_cover()
    assert printer.status().detail == "cover open"


def test_silence_is_no_answer_not_plenty_of_paper() -> None:
    """python-escpos treats an empty read as 'paper adequate'; we call it NO_ANSWER."""
    printer, emu = twin_printer()
    emu.stop_answering()
    st = printer.status()
    assert st.state is Status.NO_ANSWER and not st.can_print


def test_gs_r_status_query() -> None:
    dev = TwinDevice()
    printer = Printer(dev, status_query="gs_r", answer_s=0.05)
    assert printer.status().state is Status.PAPER_OK
    dev.emulator.set_paper(Paper.NEAR_END)
    assert printer.status().state is Status.NEAR_END
    dev.emulator.set_paper(Paper.OUT)
    assert printer.status().state is Status.PAPER_OUT


def test_print_records_one_ticket_per_cut() -> None:
    printer, emu = twin_printer()
    printer.print_ticket(TICKET)
    printer.print_ticket(TICKET)
    assert emu.tickets == [TICKET, TICKET]


def test_paper_running_out_mid_ticket_raises_paper_out() -> None:
    printer, emu = twin_printer()
    emu.run_out_after(5)
    with pytest.raises(PaperOut) as info:
        printer.print_ticket(TICKET)
    assert isinstance(info.value, QcallError) and isinstance(info.value, OSError)
    assert emu.tickets == [] and emu.lost > 0
    assert printer.status().state is Status.PAPER_OUT


def test_unplugged_printer_raises_offline() -> None:
    dev = TwinDevice()
    printer = Printer(dev, answer_s=0.05)
    dev.unplug()
    with pytest.raises(PrinterOffline):
        printer.print_ticket(TICKET)
    assert printer.status().state is Status.NO_ANSWER


def test_close_twice_and_closed_printer_refuses() -> None:
    printer, _ = twin_printer()
    printer.close()
    printer.close()
    with pytest.raises(PrinterOffline):
        printer.print_ticket(TICKET)


def test_emulator_handles_commands_split_across_writes() -> None:
    emu = PrinterEmulator()
    assert emu.feed(b"ab\x10") == b""
    assert emu.feed(b"\x04\x04") == b"\x12"
    emu.feed(b"x\x1dV")
    emu.feed(b"\x42\x00")
    assert emu.tickets == [b"abx\x1dV\x42\x00"]


def test_serial_backend_over_pty() -> None:
    twin = SerialPrinterTwin(19200)
    try:
        printer = open_printer(PrinterSection(kind="serial", serial_port=twin.port, baudrate=19200))
        try:
            assert printer.status().state is Status.PAPER_OK
            printer.print_ticket(TICKET)
            twin.emulator.set_paper(Paper.OUT)
            assert printer.status().state is Status.PAPER_OUT
            twin.emulator.stop_answering()
            assert printer.status().state is Status.NO_ANSWER
        finally:
            printer.close()
        assert twin.emulator.tickets == [TICKET]
    finally:
        twin.close()


def test_network_backend_over_tcp() -> None:
    twin = TcpPrinterTwin()
    try:
        printer = open_printer(PrinterSection(kind="network", host="127.0.0.1", port=twin.port))
        try:
            printer.print_ticket(TICKET)
            twin.emulator.set_paper(Paper.NEAR_END)
            assert printer.status().state is Status.NEAR_END
        finally:
            printer.close()
        assert twin.emulator.tickets == [TICKET]
    finally:
        twin.close()


def test_missing_backends_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PrinterOffline, match="nowhere"):
        SerialDevice(str(tmp_path / "nowhere"))
    free = TcpPrinterTwin()
    port = free.port
    free.close()
    with pytest.raises(PrinterOffline):
        NetworkDevice("127.0.0.1", port, connect_s=0.5)
    with pytest.raises(PrinterError, match="not one of"):
        open_printer(PrinterSection(kind="lpt"))  # type: ignore[arg-type]  # deliberately no such kind: the refusal is the test
    with pytest.raises(PrinterError, match="status_query"):
        open_printer(PrinterSection(status_query="asb"))  # type: ignore[arg-type]  # deliberately unknown: the refusal is the test


def test_usb_without_device_is_a_printer_error() -> None:
    with pytest.raises(PrinterError):
        open_printer(PrinterSection(kind="usb", usb_vendor=0x0416, usb_product=0x5011))


def test_file_backend_is_unreported_but_prints(tmp_path: Path) -> None:
    path = tmp_path / "out.prn"
    printer = open_printer(PrinterSection(kind="file", path=str(path)))
    st = printer.status()
    assert st.state is Status.UNREPORTED and st.can_print
    printer.print_ticket(TICKET)
    printer.close()
    assert path.read_bytes() == TICKET
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o640)


def test_file_backend_reads_status_from_a_device_node() -> None:
    """A character device (like /dev/usb/lp0) is opened read-write and answers status."""
    twin = SerialPrinterTwin(115200)
    try:
        dev = FileDevice(twin.port)
        printer = Printer(dev)
        assert dev.can_read
        twin.emulator.set_paper(Paper.OUT)
        assert printer.status().state is Status.PAPER_OUT
        printer.close()
    finally:
        twin.close()
