"""``keybridge space survey`` while the service runs: Space takes one PMS connection and the
service holds it, so the survey's requests go through the service's link, not a second one."""

import subprocess
import sys

from _appliance import ROOT, Appliance


def test_the_survey_goes_through_the_running_service(tmp_path, broker, space):
    appliance = Appliance(tmp_path / "a", broker, space).start()
    try:
        transcript = tmp_path / "survey.jsonl"
        run = subprocess.run([sys.executable, "-m", "appliance", "space", "survey", "--config",
                              str(appliance.config_file), "--encoder", "Online Encoder 1",
                              "--door", "Barrier", "--transcript", str(transcript)],
                             cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "TD|keybridge survey no room" in run.stdout
        assert transcript.exists()
        assert any("keybridge survey no room" in line for line in space.requests("CO"))
        # The second connection Space refuses was never tried: no connection was refused.
        assert space.control({"op": "state"})["state"]["connections_refused"] == 0
        assert appliance.process.poll() is None
    finally:
        appliance.close()
