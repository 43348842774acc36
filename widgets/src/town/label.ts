// A Phaser text that re-renders only when its content or colours really change, and then only
// once (setColor + setText would upload the texture twice).
import type * as Phaser from "phaser";

export class Label {
  private value = "";
  private colour = "";
  private bg = "";
  constructor(readonly text: Phaser.GameObjects.Text) {}

  set(value: string, colour?: string, background?: string): boolean {
    let restyle = false;
    if (colour !== undefined && colour !== this.colour) {
      this.colour = colour;
      this.text.style.color = colour;
      restyle = true;
    }
    if (background !== undefined && background !== this.bg) {
      this.bg = background;
      this.text.style.backgroundColor = background;
      restyle = true;
    }
    if (value !== this.value) {
      this.value = value;
      this.text.setText(value);
      return true;
    }
    if (restyle) this.text.updateText();
    return restyle;
  }
}
