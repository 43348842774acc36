// The generated textures at the current scale: painted once per scale step, swapped on resize.
import type * as Phaser from "phaser";
import type { Place } from "../types";
import { CHAR_H, CHAR_W, SMALL, makeCanvas, paintCharacter, paintSmall, roofColour } from "./art";
import { LOOKS } from "./palette";

export class Skin {
  k = 0;
  places: Record<string, Place> = {};
  private generation = 0;

  constructor(private textures: Phaser.Textures.TextureManager) {}

  key(name: string): string {
    return `ccviz-${name}@${this.generation}`;
  }

  placeColour(placeId: string): string {
    const p = this.places[placeId];
    return p ? roofColour(p) : "#4b566f";
  }

  /** Paint every texture at scale `k` (device pixels per world unit). */
  build(k: number, places: Record<string, Place>): void {
    const old = this.generation;
    const hadOld = this.k > 0;
    this.generation++;
    this.k = k;
    this.places = places;
    for (const look of Object.keys(LOOKS))
      for (const step of [0, 1, 2]) {
        const canvas = makeCanvas(CHAR_W * k, CHAR_H * k);
        paintCharacter(canvas, k, LOOKS[look], step);
        this.textures.addCanvas(this.key(`char-${look}-${step}`), canvas);
      }
    for (const [name, tex] of Object.entries(SMALL)) {
      const canvas = makeCanvas(tex.w * k, tex.h * k);
      paintSmall(canvas, k, tex);
      this.textures.addCanvas(this.key(name), canvas);
    }
    if (hadOld) this.dropGeneration(old);
  }

  /** Textures no object uses any more (call after swapping them out). */
  private dropKeys: string[] = [];

  flush(): void {
    for (const key of this.dropKeys) if (this.textures.exists(key)) this.textures.remove(key);
    this.dropKeys = [];
  }

  private dropGeneration(gen: number): void {
    const suffix = `@${gen}`;
    for (const look of Object.keys(LOOKS))
      for (const step of [0, 1, 2]) this.dropKeys.push(`ccviz-char-${look}-${step}${suffix}`);
    for (const name of Object.keys(SMALL)) this.dropKeys.push(`ccviz-${name}${suffix}`);
  }
}
